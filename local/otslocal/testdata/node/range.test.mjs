// getRange through the Node SDK: FORWARD and BACKWARD scans, INF_MIN / INF_MAX bounds
// (start inclusive, end exclusive), limit and nextStartPrimaryKey paging.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TableStore, assertOTSError, client, createTable, int, primaryKeyOf, putRow, requestKey, valuesOf,
} from './helpers.mjs';

const { INF_MIN, INF_MAX, Direction } = TableStore;

// The table every range test reads: primary key (part STRING, seq INTEGER) and one row
// per (part, seq) with attribute n = its position in primary key order.
const parts = ['a', 'b', 'c'];
const seqs = [-5, 0, 7];
const allKeys = parts.flatMap((part) => seqs.map((seq) => ({ part, seq: BigInt(seq) })));

async function createRangeTable(t) {
  const table = await createTable(t, 'range', [['part', 'STRING'], ['seq', 'INTEGER']]);
  // Written in reverse, so any order in the results comes from the server.
  for (const [n, key] of [...allKeys.entries()].reverse()) {
    await putRow(table, [{ part: key.part }, { seq: int(Number(key.seq)) }], [{ n: int(n) }]);
  }
  return table;
}

// getRange runs one request and returns its rows as {part, seq} keys, and the next start.
async function getRange(table, direction, start, end, params = {}) {
  const response = await client.getRange({
    tableName: table, direction, inclusiveStartPrimaryKey: start, exclusiveEndPrimaryKey: end, ...params,
  });
  return { keys: response.rows.map(primaryKeyOf), rows: response.rows, next: response.nextStartPrimaryKey };
}

// scan pages through a range with a limit per request, following nextStartPrimaryKey
// until it is null, and returns every row's key and each page's size.
async function scan(table, direction, start, end, limit) {
  const keys = [];
  const pageSizes = [];
  let next = start;
  while (next !== null) {
    const page = await getRange(table, direction, next, end, { limit });
    keys.push(...page.keys);
    pageSizes.push(page.keys.length);
    next = page.next === null ? null : requestKey(page.next);
  }
  return { keys, pageSizes };
}

test('getRange FORWARD from INF_MIN to INF_MAX returns every row in primary key order', async (t) => {
  const table = await createRangeTable(t);
  const { keys, rows, next } = await getRange(table, Direction.FORWARD,
    [{ part: INF_MIN }, { seq: INF_MIN }], [{ part: INF_MAX }, { seq: INF_MAX }]);
  assert.deepEqual(keys, allKeys);
  assert.deepEqual(rows.map((row) => valuesOf(row).n), allKeys.map((_, n) => BigInt(n)));
  assert.equal(next, null, 'no next start when the range is exhausted');
});

test('getRange BACKWARD from INF_MAX to INF_MIN returns every row in reverse order', async (t) => {
  const table = await createRangeTable(t);
  const { keys, next } = await getRange(table, Direction.BACKWARD,
    [{ part: INF_MAX }, { seq: INF_MAX }], [{ part: INF_MIN }, { seq: INF_MIN }]);
  assert.deepEqual(keys, allKeys.toReversed());
  assert.equal(next, null);
});

test('getRange includes the start key and excludes the end key', async (t) => {
  const table = await createRangeTable(t);
  const forward = await getRange(table, Direction.FORWARD, [{ part: 'a' }, { seq: int(0) }], [{ part: 'c' }, { seq: int(0) }]);
  assert.deepEqual(forward.keys, allKeys.slice(1, 7));
  const backward = await getRange(table, Direction.BACKWARD, [{ part: 'c' }, { seq: int(0) }], [{ part: 'a' }, { seq: int(0) }]);
  assert.deepEqual(backward.keys, allKeys.slice(2, 8).toReversed());
});

test('getRange with INF_MIN / INF_MAX in the second key column bounds one partition', async (t) => {
  const table = await createRangeTable(t);
  const { keys } = await getRange(table, Direction.FORWARD, [{ part: 'b' }, { seq: INF_MIN }], [{ part: 'b' }, { seq: INF_MAX }]);
  assert.deepEqual(keys, allKeys.filter((key) => key.part === 'b'));
});

test('getRange pages with limit and nextStartPrimaryKey, FORWARD', async (t) => {
  const table = await createRangeTable(t);
  const { keys, pageSizes } = await scan(table, Direction.FORWARD,
    [{ part: INF_MIN }, { seq: INF_MIN }], [{ part: INF_MAX }, { seq: INF_MAX }], 4);
  assert.deepEqual(keys, allKeys);
  assert.deepEqual(pageSizes, [4, 4, 1]);
});

test('getRange pages with limit and nextStartPrimaryKey, BACKWARD', async (t) => {
  const table = await createRangeTable(t);
  const { keys, pageSizes } = await scan(table, Direction.BACKWARD,
    [{ part: INF_MAX }, { seq: INF_MAX }], [{ part: INF_MIN }, { seq: INF_MIN }], 2);
  assert.deepEqual(keys, allKeys.toReversed());
  assert.deepEqual(pageSizes, [2, 2, 2, 2, 1]);
});

test('getRange pages between concrete keys', async (t) => {
  const table = await createRangeTable(t);
  const { keys, pageSizes } = await scan(table, Direction.FORWARD,
    [{ part: 'a' }, { seq: int(-5) }], [{ part: 'c' }, { seq: int(7) }], 3);
  assert.deepEqual(keys, allKeys.slice(0, 8));
  assert.deepEqual(pageSizes, [3, 3, 2]);

  const first = await getRange(table, Direction.FORWARD, [{ part: 'a' }, { seq: int(-5) }], [{ part: 'c' }, { seq: int(7) }], { limit: 3 });
  assert.deepEqual(primaryKeyOf({ primaryKey: first.next }), { part: 'b', seq: -5n },
    'nextStartPrimaryKey is the full key of the first row not returned');
});

test('getRange with columnsToGet skips rows that hold none of the columns', async (t) => {
  const table = await createTable(t, 'range_columns', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ a: 'one' }, { b: 'B' }]);
  await putRow(table, [{ id: int(2) }], [{ b: 'B' }]);
  await putRow(table, [{ id: int(3) }], [{ a: 'three' }]);
  const { rows } = await getRange(table, Direction.FORWARD, [{ id: int(0) }], [{ id: int(10) }], { columnsToGet: ['a'] });
  assert.deepEqual(rows.map((row) => [primaryKeyOf(row), valuesOf(row)]), [
    [{ id: 1n }, { a: 'one' }],
    [{ id: 3n }, { a: 'three' }],
  ]);
});

test('getRange with bounds out of order for the direction fails with 400 OTSParameterInvalid', async (t) => {
  const table = await createTable(t, 'range_bad', [['id', 'INTEGER']]);
  await assertOTSError(getRange(table, Direction.FORWARD, [{ id: int(5) }], [{ id: int(1) }]),
    400, 'OTSParameterInvalid', 'Begin key must less than end key in FORWARD');
  await assertOTSError(getRange(table, Direction.BACKWARD, [{ id: int(1) }], [{ id: int(5) }]),
    400, 'OTSParameterInvalid', 'Begin key must more than end key in BACKWARD');
  await assertOTSError(getRange(table, Direction.FORWARD, [{ id: int(1) }], [{ id: int(5) }], { limit: -1 }),
    400, 'OTSParameterInvalid', 'The limit must be greater than 0.');
});
