// otsetl console: plain JavaScript, no build step. Every value from the server is put into
// the page as text (textContent, text nodes), never as HTML.
(function () {
  'use strict';

  var body = document.body;
  var pollMs = Number(body.dataset.pollMs) || 1000;
  var token = document.querySelector('meta[name="console-token"]').content;

  // el builds an element: props sets className (class), textContent (text), attributes
  // (names with a dash or in attrs) or properties; children are nodes or strings (as text).
  function el(tag, props) {
    var e = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      var v = props[k];
      if (v === undefined || v === null) return;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.indexOf('-') >= 0 || k === 'title' || k === 'href' || k === 'colspan') e.setAttribute(k, v);
      else e[k] = v;
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c !== undefined && c !== null) e.append(c);
    }
    return e;
  }

  function clear(node) { node.replaceChildren(); return node; }

  // getJSON fetches a console endpoint; a non-2xx answer throws its {"error"} text.
  function getJSON(url) {
    return fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) throw new Error(data.error || (resp.status + ' ' + resp.statusText));
        return data;
      });
    });
  }

  // poll runs step now and again pollMs after each run ends, while the page is visible.
  function poll(step) {
    function again() { setTimeout(run, pollMs); }
    function run() {
      if (document.hidden) { again(); return; }
      Promise.resolve().then(step).catch(function () {}).then(again);
    }
    run();
  }

  function showError(node, err) {
    if (!node) return;
    node.hidden = !err;
    node.textContent = err ? String(err.message || err) : '';
  }

  function pad(n, w) { var s = String(n); while (s.length < (w || 2)) s = '0' + s; return s; }

  // fmtTime formats ms since the epoch as local "YYYY-MM-DD HH:MM:SS.mmm".
  function fmtTime(ms) {
    if (!ms) return '';
    var d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  // short gives the first 8 characters of an id, as `otsetl local` prints them.
  function short(id) { return String(id).slice(0, 8); }

  function fmtCount(n) { return Number(n).toLocaleString('en-US'); }

  // valueNodes renders a typed value: its text and its type. BINARY is hex with 0x; an
  // empty STRING or BINARY says so.
  function valueNodes(tv) {
    var text = tv.type === 'BINARY' ? '0x' + tv.value : tv.value;
    var value = (tv.type === 'STRING' || tv.type === 'BINARY') && tv.value === ''
      ? el('span', { class: 'value empty', text: 'empty', title: 'an empty ' + tv.type })
      : el('span', { class: 'value', text: text });
    return [value, el('span', { class: 'type', text: tv.type })];
  }

  // ---- overview -------------------------------------------------------------------------

  function overview() {
    var errorNode = document.getElementById('overview-error');
    poll(function () {
      return getJSON('/api/overview').then(function (data) {
        showError(errorNode, data.tablesError ? new Error(data.tablesError) : null);
        renderTables(data.tables);
        if (data.pipeline) renderPipeline(data.pipeline);
      }).catch(function (err) { showError(errorNode, err); });
    });
    if (document.getElementById('chart-records')) charts();
  }

  function renderTables(list) {
    var tbody = clear(document.querySelector('#tables tbody'));
    if (!list.length) tbody.append(el('tr', null, el('td', { colspan: '5', class: 'empty', text: 'No tables.' })));
    list.forEach(function (t) {
      var row = el('tr', { 'data-table': t.name },
        el('td', null, el('a', { href: '/tables/' + encodeURIComponent(t.name), text: t.name })));
      if (t.error) {
        row.append(el('td', { colspan: '4', class: 'error', text: t.error }));
      } else {
        row.append(
          el('td', { class: 'mono', text: t.primaryKey }),
          el('td', { class: 'num rows-count', text: fmtCount(t.rows) + (t.rowsComplete ? '' : '+') }),
          el('td', { text: t.streamHours ? 'enabled, ' + t.streamHours + ' h' : '—' }),
          el('td', { text: t.role || '' }));
      }
      tbody.append(row);
    });
  }

  function renderPipeline(p) {
    document.getElementById('function-name').textContent = p.function;
    document.getElementById('function-filter').textContent = p.filter;
    document.getElementById('function-columns').textContent = p.columns || 'all';
    var pool = p.instances;
    var running = pool.instances.filter(function (i) { return i.running; }).length;
    document.getElementById('function-instances').textContent = running + ' running of at most ' + pool.maxInstances;
    document.getElementById('function-restarts').textContent = String(pool.restarts);
    var rows = clear(document.querySelector('#instances tbody'));
    pool.instances.forEach(function (i) {
      rows.append(el('tr', { 'data-instance': i.id },
        el('td', { class: 'mono', text: i.id }),
        el('td', null, i.running
          ? el('span', { class: 'state-up', text: i.busy ? 'running, busy' : 'running, idle' })
          : el('span', { class: 'state-down', text: 'not running' })),
        el('td', { class: 'num', text: i.pid ? String(i.pid) : '' }),
        el('td', { class: 'mono', text: i.url }),
        el('td', { class: 'num', text: fmtCount(i.invocations) })));
    });
    document.getElementById('total-invocations').textContent = fmtCount(p.totals.invocations);
    document.getElementById('total-failures').textContent = fmtCount(p.totals.failures);
    document.getElementById('total-records').textContent = fmtCount(p.totals.records);
    var last = clear(document.getElementById('last-error'));
    if (p.totals.lastError) last.append(el('span', { class: 'error', text: fmtTime(p.totals.lastErrorAt) + ': ' + p.totals.lastError }));
    else last.textContent = 'none';
    document.getElementById('source-table').textContent = p.sourceTable;
    var tbody = clear(document.querySelector('#shards tbody'));
    if (!p.shards.length) tbody.append(el('tr', null, el('td', { colspan: '7', class: 'empty', text: 'No shards listed yet.' })));
    p.shards.forEach(function (s) {
      var state = s.state + (s.state === 'reading' && s.caughtUp ? ', caught up' : '');
      tbody.append(el('tr', { class: s.failedAttempts ? 'failed' : '' },
        el('td', { class: 'mono', text: s.id }),
        el('td', { class: 'mono', text: (s.parents || []).join(', ') || '—' }),
        el('td', { text: state }),
        el('td', { text: s.checkpointMicros ? fmtTime(s.checkpointMicros / 1000) : 'none yet' }),
        el('td', { class: 'mono', text: s.checkpoint || '—' }),
        el('td', { class: 'num', text: fmtCount(s.delivered) }),
        el('td', { class: 'num', text: String(s.failedAttempts) })));
    });
  }

  // charts draws the records/s and lag plots with uPlot and feeds them every poll.
  function charts() {
    var height = 240;
    function make(id, label, unit, color, bars) {
      var node = document.getElementById(id);
      var series = { label: label, stroke: color, width: 2, spanGaps: false,
        value: function (u, v) { return v == null ? '–' : v + ' ' + unit; } };
      if (bars) {
        series.fill = color + '55';
        series.paths = uPlot.paths.bars({ size: [0.9, 12, 3] });
        series.points = { show: false };
      } else {
        series.points = { show: true, size: 6, fill: color };
      }
      var plot = new uPlot({
        width: Math.max(node.clientWidth, 280), height: height,
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max || 0, bars ? 5 : 10) * 1.1]; } } },
        axes: [
          { label: 'time (local)', stroke: '#52606d', grid: { stroke: '#e4e7eb' } },
          { label: unit, stroke: '#52606d', size: 64, grid: { stroke: '#e4e7eb' } },
        ],
        series: [{ label: 'time' }, series],
        legend: { show: true },
      }, [[], []], node);
      return { node: node, plot: plot };
    }
    var records = make('chart-records', 'records delivered (records/s)', 'records/s', '#1d4ed8', true);
    var lag = make('chart-lag', 'lag (ms)', 'ms', '#b45309', false);
    window.addEventListener('resize', function () {
      [records, lag].forEach(function (c) { c.plot.setSize({ width: Math.max(c.node.clientWidth, 280), height: height }); });
    });
    poll(function () {
      return getJSON('/api/metrics').then(function (m) {
        records.plot.setData([m.time, m.records]);
        lag.plot.setData([m.time, m.lagMs]);
        records.node.dataset.points = String(m.records.filter(function (v) { return v > 0; }).length);
        lag.node.dataset.points = String(m.lagMs.filter(function (v) { return v !== null; }).length);
      });
    });
  }

  // ---- a table's page -------------------------------------------------------------------

  // A page of rows shows a long STRING or BINARY value cut, with its full size ("cut" and
  // "size"); /api/tables/{name}/value gives one version of a cell whole, which the page
  // keeps, and the editor always loads whole values.
  function tablePage() {
    var view = document.getElementById('table-view');
    var table = view.dataset.table;
    var allVersions = view.dataset.allVersions === 'true';
    var base = '/api/tables/' + encodeURIComponent(table);
    var errorNode = document.getElementById('rows-error');
    var last = '';
    var whole = {}; // the whole values fetched, by cellID

    // The first page keeps the URL's range end, limit and versions, not its start.
    var first = new URLSearchParams(location.search);
    Array.from(first.keys()).forEach(function (k) { if (k.indexOf('from.') === 0) first.delete(k); });
    document.getElementById('first-page').href = '?' + first.toString();

    // The range form leaves out the fields left empty, so that the URL holds only what
    // was asked for.
    document.getElementById('range').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var params = new URLSearchParams();
      new FormData(ev.target).forEach(function (v, k) { if (v !== '') params.append(k, v); });
      location.search = params.toString();
    });

    function cellID(row, name, v) {
      return JSON.stringify([row.key.map(function (k) { return k.value; }), name, v.timestamp]);
    }

    // wholeValue gives version v of column name of row whole: v itself unless it is cut.
    function wholeValue(data, row, name, v) {
      if (!v.cut) return Promise.resolve(v);
      var id = cellID(row, name, v);
      if (whole[id]) return Promise.resolve(whole[id]);
      var params = new URLSearchParams();
      data.primaryKey.forEach(function (k, i) { params.set('key.' + k.name, row.key[i].value); });
      params.set('column', name);
      params.set('timestamp', String(v.timestamp));
      return getJSON(base + '/value?' + params.toString()).then(function (got) {
        whole[id] = got;
        return got;
      });
    }

    // versionNode renders one version of a cell: whole if it was fetched, else cut, with
    // its size and a button that fetches it whole.
    function versionNode(data, row, name, v) {
      var span = el('span', { class: 'version', title: 'version ' + v.timestamp + ' (' + fmtTime(v.timestamp) + ')' });
      function show(tv, button) {
        var nodes = valueNodes(tv);
        span.replaceChildren(nodes[0]);
        if (button) {
          nodes[0].textContent += '…';
          span.append(el('span', { class: 'cut-size', text: ' ' + fmtCount(v.size) + ' bytes' }), button);
        }
        span.append(nodes[1]);
        if (allVersions) span.append(el('time', { text: fmtTime(v.timestamp) + ' · ' + v.timestamp }));
      }
      var fetched = v.cut && whole[cellID(row, name, v)];
      if (!v.cut || fetched) {
        show(fetched || v);
        return span;
      }
      var button = el('button', { type: 'button', class: 'show-whole', text: 'show whole value' });
      button.addEventListener('click', function () {
        button.disabled = true;
        button.textContent = 'loading…';
        wholeValue(data, row, name, v).then(function (tv) { show(tv); }).catch(function (err) {
          button.disabled = false;
          button.textContent = 'show whole value';
          showError(errorNode, err);
        });
      });
      show(v, button);
      return span;
    }

    function renderRows(data) {
      var thead = clear(document.querySelector('#rows thead'));
      var tbody = clear(document.querySelector('#rows tbody'));
      var head = el('tr');
      data.primaryKey.forEach(function (k) {
        head.append(el('th', { class: 'pk', title: 'primary key column' }, k.name, el('span', { class: 'type', text: k.type })));
      });
      data.columns.forEach(function (name) { head.append(el('th', { text: name })); });
      head.append(el('th', { text: '' }));
      thead.append(head);
      data.rows.forEach(function (row) {
        var tr = el('tr', { 'data-key': JSON.stringify(row.key.map(function (v) { return v.value; })) });
        row.key.forEach(function (v) { var nodes = valueNodes(v); tr.append(el('td', null, nodes[0], nodes[1])); });
        data.columns.forEach(function (name) {
          var versions = row.cells[name];
          if (!versions) { tr.append(el('td', { class: 'absent', 'data-column': name, title: 'no such column in this row' })); return; }
          var td = el('td', { 'data-column': name });
          (allVersions ? versions : versions.slice(0, 1)).forEach(function (v) { td.append(versionNode(data, row, name, v)); });
          tr.append(td);
        });
        var edit = el('button', { type: 'button', class: 'edit-row', text: 'Edit' });
        edit.addEventListener('click', function () { loadIntoEditor(data, row); });
        tr.append(el('td', null, edit));
        tbody.append(tr);
      });
      var status = data.rows.length === 0 ? 'No rows in this range.' : data.rows.length + (data.rows.length === 1 ? ' row' : ' rows') + ' in primary key order' + (data.next ? ', more on the next page' : '');
      if (data.pageBytes) status += ' (a page stops at ' + fmtCount(data.pageBytes) + ' bytes)';
      document.getElementById('rows-status').textContent = status + '.';
      var next = document.getElementById('next-page');
      next.hidden = !data.next;
      next.href = '?' + data.next;
    }

    // loadIntoEditor loads a row into the editor, its cut values fetched whole first, so
    // that the editor never writes a cut value back.
    function loadIntoEditor(data, row) {
      var result = document.getElementById('editor-result');
      var names = data.columns.filter(function (name) { return row.cells[name]; });
      result.className = '';
      result.textContent = 'Loading the row…';
      Promise.all(names.map(function (name) { return wholeValue(data, row, name, row.cells[name][0]); })).then(function (values) {
        document.querySelectorAll('#row-form input.pk').forEach(function (input, i) { input.value = row.key[i] ? row.key[i].value : ''; });
        clear(document.querySelector('#editor-columns tbody'));
        values.forEach(function (v, i) { addColumnRow(names[i], v.type, v.value); });
        result.textContent = '';
        // Smoothly, unless the user asked for less motion.
        var still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
        document.getElementById('editor').scrollIntoView({ behavior: still ? 'auto' : 'smooth' });
      }).catch(function (err) {
        result.className = 'error';
        result.textContent = 'The row could not be loaded whole: ' + String(err.message || err);
      });
    }

    function refresh() {
      return getJSON(base + '/rows' + location.search).then(function (data) {
        showError(errorNode, null);
        var text = JSON.stringify(data);
        if (text === last) return;
        last = text;
        renderRows(data);
      }).catch(function (err) { showError(errorNode, err); });
    }
    poll(refresh);
    editor(table, refresh);
  }

  // ---- the row editor -------------------------------------------------------------------

  var TYPES = ['INTEGER', 'DOUBLE', 'BOOLEAN', 'STRING', 'BINARY'];

  function addColumnRow(name, type, value) {
    var tbody = document.querySelector('#editor-columns tbody');
    var typeSelect = el('select', { class: 'col-type', 'aria-label': 'type' });
    TYPES.forEach(function (t) { typeSelect.append(el('option', { value: t, text: t })); });
    typeSelect.value = type || 'INTEGER';
    var change = el('select', { class: 'col-change', 'aria-label': 'change' },
      el('option', { value: 'put', text: 'put' }), el('option', { value: 'delete', text: 'delete (UpdateRow)' }));
    var remove = el('button', { type: 'button', text: '×', title: 'remove this column from the editor' });
    var tr = el('tr', null,
      el('td', null, el('input', { class: 'col-name', 'aria-label': 'column name', value: name || '' })),
      el('td', null, typeSelect),
      el('td', null, el('input', { class: 'col-value', 'aria-label': 'value', value: value === undefined ? '' : value })),
      el('td', null, change),
      el('td', null, remove));
    remove.addEventListener('click', function () { tr.remove(); });
    tbody.append(tr);
    return tr;
  }

  function editor(table, refresh) {
    var result = document.getElementById('editor-result');
    document.getElementById('add-column').addEventListener('click', function () {
      addColumnRow('', 'INTEGER', '').querySelector('input').focus();
    });
    addColumnRow('', 'INTEGER', '');
    document.querySelectorAll('#row-form .actions button').forEach(function (button) {
      button.addEventListener('click', function () {
        var operation = button.dataset.operation;
        var req = { operation: operation, condition: document.getElementById('condition').value, primaryKey: [], columns: [] };
        document.querySelectorAll('#row-form input.pk').forEach(function (input) {
          req.primaryKey.push({ name: input.dataset.name, type: input.dataset.type, value: input.value });
        });
        if (operation !== 'DeleteRow') {
          document.querySelectorAll('#editor-columns tbody tr').forEach(function (tr) {
            var name = tr.querySelector('.col-name').value;
            if (name === '') return;
            var del = tr.querySelector('.col-change').value === 'delete';
            req.columns.push({ name: name, type: tr.querySelector('.col-type').value, value: del ? '' : tr.querySelector('.col-value').value, delete: del });
          });
        }
        result.className = '';
        result.textContent = operation + '…';
        fetch('/api/tables/' + encodeURIComponent(table) + '/rows', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Console-Token': token, Accept: 'application/json' },
          body: JSON.stringify(req),
        }).then(function (resp) {
          return resp.json().catch(function () { return { error: resp.status + ' ' + resp.statusText }; }).then(function (data) {
            if (!resp.ok) throw new Error(data.error || resp.statusText);
            result.className = 'ok';
            result.textContent = data.message;
            return refresh();
          });
        }).catch(function (err) {
          result.className = 'error';
          result.textContent = String(err.message || err);
        });
      });
    });
  }

  // ---- invocations ----------------------------------------------------------------------

  function invocationsPage() {
    var errorNode = document.getElementById('invocations-error');
    var last = '';
    poll(function () {
      return getJSON('/api/invocations').then(function (data) {
        showError(errorNode, null);
        var text = JSON.stringify(data);
        if (text === last) return;
        last = text;
        var t = data.totals;
        document.getElementById('invocations-totals').textContent =
          fmtCount(t.invocations) + ' invocations, ' + fmtCount(t.failures) + ' failed, ' + fmtCount(t.records) + ' records delivered.';
        var tbody = clear(document.querySelector('#invocations tbody'));
        if (!data.invocations.length) tbody.append(el('tr', null, el('td', { colspan: '13', class: 'empty', text: 'No invocations yet: write rows into the source table.' })));
        data.invocations.forEach(function (inv) {
          var s = inv.summary || {};
          function n(v) { return el('td', { class: 'num', text: v === undefined ? '' : fmtCount(v) }); }
          tbody.append(el('tr', { class: inv.error ? 'failed' : '', 'data-request-id': inv.requestId },
            el('td', { class: 'nowrap', text: fmtTime(inv.time) }),
            el('td', { class: 'mono nowrap' }, el('a', { href: '/invocations/' + encodeURIComponent(inv.requestId), text: short(inv.requestId), title: inv.requestId })),
            el('td', { class: 'mono nowrap', text: short(inv.shard), title: inv.shard }),
            n(inv.attempt), n(inv.records), n(s.puts), n(s.updates), n(s.deletes), n(s.reads), n(s.retries),
            n(inv.summary ? s.lagMs : undefined), n(inv.durationMs),
            el('td', { class: 'error', text: inv.error || '' })));
        });
        var tasks = clear(document.querySelector('#tasks tbody'));
        if (!data.tasks.length) tasks.append(el('tr', null, el('td', { colspan: '10', class: 'empty', text: 'No task invocations yet: run otsetl sync --on-fc.' })));
        data.tasks.forEach(function (inv) {
          var r = inv.result || {};
          var sync = r.sync || {};
          var status = inv.lost ? 'answer lost' : (inv.errorType ? 'function error ' + inv.errorType : 'HTTP ' + inv.status);
          var progress = r.version ? (r.done ? 'done' : 'after ' + (r.after || []).map(function (c) { return c.name + '=' + c.value; }).join(', ')) : '';
          function n(v) { return el('td', { class: 'num', text: v === undefined ? '' : fmtCount(v) }); }
          tasks.append(el('tr', { class: (inv.error || inv.lost) ? 'failed' : '', 'data-request-id': inv.requestId },
            el('td', { class: 'nowrap', text: fmtTime(Date.parse(inv.start)) }),
            el('td', { class: 'mono nowrap', text: short(inv.requestId), title: inv.requestId }),
            el('td', { class: 'mono', text: r.instanceId || '' }),
            el('td', { text: status }),
            el('td', { class: 'mono', text: progress }),
            n(sync.sourceRows), n(sync.written), n(sync.deleted), n(Math.round(inv.latencyNs / 1e6)),
            el('td', { class: 'error', text: inv.error || '' })));
        });
      }).catch(function (err) { showError(errorNode, err); });
    });
  }

  function eventPage() {
    var view = document.getElementById('event-view');
    var id = view.dataset.requestId;
    var errorNode = document.getElementById('event-error');
    fetch('/api/invocations/' + encodeURIComponent(id) + '/event', { cache: 'no-store' }).then(function (resp) {
      return resp.text().then(function (text) {
        if (!resp.ok) {
          var message = text;
          try { message = JSON.parse(text).error; } catch (e) { /* keep the text */ }
          throw new Error(message);
        }
        document.getElementById('event').textContent = text;
      });
    }).catch(function (err) { showError(errorNode, err); });
    getJSON('/api/invocations').then(function (data) {
      var inv = data.invocations.find(function (i) { return i.requestId === id; });
      if (!inv) return;
      var dl = clear(document.getElementById('invocation-summary'));
      function item(k, v) { dl.append(el('dt', { text: k }), el('dd', { text: v })); }
      var s = inv.summary;
      item('Ended', fmtTime(inv.time));
      item('Shard', inv.shard);
      item('Attempt', String(inv.attempt));
      item('Duration', inv.durationMs + ' ms');
      if (s) {
        item('Records', s.records + ' records, ' + s.keys + ' keys');
        item('Result table', s.puts + ' puts, ' + s.updates + ' updates (' + s.notInView + ' not in view), ' + s.deletes + ' deletes');
        item('Requests', s.writeRequests + ' write, ' + s.readRequests + ' read (' + s.reads + ' source rows), ' + s.retries + ' retries');
        item('Lag', s.lagMs + ' ms');
      } else {
        item('Error', inv.error);
      }
    }).catch(function (err) { showError(errorNode, err); });
  }

  // ---- exports -------------------------------------------------------------------------

  function exportsPage() {
    var errorNode = document.getElementById('exports-error');
    var last = '';
    var opened = '';
    function open(key) {
      opened = key;
      document.getElementById('object-view').hidden = false;
      document.getElementById('object-key').textContent = key;
      var objectError = document.getElementById('object-error');
      var linesNode = document.getElementById('object-lines');
      var status = document.getElementById('object-status');
      getJSON('/api/exports/object?key=' + encodeURIComponent(key)).then(function (data) {
        if (opened !== key) return;
        showError(objectError, null);
        linesNode.textContent = data.lines.join('\n');
        status.textContent = data.complete ? 'The whole object: ' + fmtCount(data.lines.length) + ' lines.' : 'Its first ' + fmtCount(data.lines.length) + ' lines.';
      }).catch(function (err) {
        linesNode.textContent = '';
        status.textContent = '';
        showError(objectError, err);
      });
    }
    poll(function () {
      return getJSON('/api/exports').then(function (data) {
        showError(errorNode, null);
        var text = JSON.stringify(data);
        if (text === last) return;
        last = text;
        document.getElementById('exports-totals').textContent = fmtCount(data.total) + (data.total === 1 ? ' object.' : ' objects.');
        var tbody = clear(document.querySelector('#exports tbody'));
        if (!data.objects.length) tbody.append(el('tr', null, el('td', { colspan: '3', class: 'empty', text: 'No objects yet: write rows into the source table.' })));
        data.objects.forEach(function (o) {
          var link = el('a', { href: '#', text: o.key.slice(data.prefix.length), title: o.key });
          link.addEventListener('click', function (ev) { ev.preventDefault(); open(o.key); });
          tbody.append(el('tr', { 'data-key': o.key },
            el('td', { class: 'nowrap', text: fmtTime(Date.parse(o.lastModified)) }),
            el('td', { class: 'mono' }, link),
            el('td', { class: 'num', text: fmtCount(o.size) })));
        });
      }).catch(function (err) { showError(errorNode, err); });
    });
  }

  switch (body.dataset.page) {
    case 'exports': exportsPage(); break;
    case 'overview': overview(); break;
    case 'table': tablePage(); break;
    case 'invocations': invocationsPage(); break;
    case 'event': eventPage(); break;
  }
})();
