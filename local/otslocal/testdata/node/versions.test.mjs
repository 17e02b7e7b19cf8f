// Versions through the Node SDK: explicit timestamps (ms), the table's maxVersions, the
// read's maxVersions and timeRange, and the max version offset (Tablestore "Max versions
// and TTL").

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TableStore, assertOTSError, client, createTable, getRow, ignore, int, putRow, versionsOf,
} from './helpers.mjs';

// The explicit timestamps are a minute in the past: inside the default max version
// offset of one day, and older than anything the server stamps itself.
const base = Date.now() - 60_000;

// putVersions writes versions of column a at base + each offset, all in one putRow.
function putVersions(table, id, offsets) {
  return putRow(table, [{ id: int(id) }], offsets.map((offset) => ({ a: `v${offset}`, timestamp: int(base + offset) })));
}

test('explicit timestamps are kept and versions come newest first', async (t) => {
  const table = await createTable(t, 'ver_explicit', [['id', 'INTEGER']], { maxVersions: 5 });
  await putRow(table, [{ id: int(1) }], [
    { a: 'a1', timestamp: int(base + 1) },
    { b: int(7), timestamp: int(base + 5) },
    { a: 'a3', timestamp: int(base + 3) },
    { a: 'a2', timestamp: int(base + 2) },
  ]);
  const row = await getRow(table, [{ id: int(1) }], { maxVersions: 5 });
  assert.deepEqual(versionsOf(row), [
    ['a', 'a3', base + 3],
    ['a', 'a2', base + 2],
    ['a', 'a1', base + 1],
    ['b', 7n, base + 5],
  ]);
});

test('the read maxVersions limits the versions of each column', async (t) => {
  const table = await createTable(t, 'ver_read_max', [['id', 'INTEGER']], { maxVersions: 5 });
  await putVersions(table, 1, [1, 2, 3]);
  assert.deepEqual(versionsOf(await getRow(table, [{ id: int(1) }], { maxVersions: 2 })),
    [['a', 'v3', base + 3], ['a', 'v2', base + 2]]);
  assert.deepEqual(versionsOf(await getRow(table, [{ id: int(1) }])), [['a', 'v3', base + 3]], 'the SDK reads one version by default');
});

test("the table's maxVersions keeps only the newest versions", async (t) => {
  const table = await createTable(t, 'ver_table_max', [['id', 'INTEGER']], { maxVersions: 2 });
  await putVersions(table, 1, [1, 2, 3]);
  assert.deepEqual(versionsOf(await getRow(table, [{ id: int(1) }], { maxVersions: 10 })),
    [['a', 'v3', base + 3], ['a', 'v2', base + 2]]);
});

test('timeRange selects the versions in [startTime, endTime)', async (t) => {
  const table = await createTable(t, 'ver_time_range', [['id', 'INTEGER']], { maxVersions: 5 });
  await putVersions(table, 1, [1, 2, 3, 4]);
  const inRange = (startTime, endTime, maxVersions = 5) =>
    getRow(table, [{ id: int(1) }], { maxVersions, timeRange: { startTime, endTime } });

  assert.deepEqual(versionsOf(await inRange(base + 2, base + 4)), [['a', 'v3', base + 3], ['a', 'v2', base + 2]]);
  assert.deepEqual(versionsOf(await inRange(base + 2, base + 4, 1)), [['a', 'v3', base + 3]], 'maxVersions applies within the range');
  assert.deepEqual(versionsOf(await inRange(base + 4, base + 9)), [['a', 'v4', base + 4]]);
});

test('getRange applies maxVersions and timeRange to every row', async (t) => {
  const table = await createTable(t, 'ver_range', [['id', 'INTEGER']], { maxVersions: 5 });
  await putVersions(table, 1, [1, 2, 3]);
  await putVersions(table, 2, [2, 3, 4]);
  const response = await client.getRange({
    tableName: table, direction: TableStore.Direction.FORWARD,
    inclusiveStartPrimaryKey: [{ id: int(1) }], exclusiveEndPrimaryKey: [{ id: int(3) }],
    maxVersions: 2, timeRange: { startTime: base + 1, endTime: base + 4 },
  });
  assert.deepEqual(response.rows.map(versionsOf), [
    [['a', 'v3', base + 3], ['a', 'v2', base + 2]],
    [['a', 'v3', base + 3], ['a', 'v2', base + 2]],
  ]);
});

test('updateRow PUT with a timestamp adds a version, and the same timestamp overwrites it', async (t) => {
  const table = await createTable(t, 'ver_update', [['id', 'INTEGER']], { maxVersions: 5 });
  await putVersions(table, 1, [1]);
  const updateAt = (value, offset) => client.updateRow({
    tableName: table, condition: ignore, primaryKey: [{ id: int(1) }],
    updateOfAttributeColumns: [{ PUT: [{ a: value, timestamp: int(base + offset) }] }],
  });

  await updateAt('added', 2);
  await updateAt('overwritten', 1);
  assert.deepEqual(versionsOf(await getRow(table, [{ id: int(1) }], { maxVersions: 5 })),
    [['a', 'added', base + 2], ['a', 'overwritten', base + 1]]);
});

test('a value written without a timestamp gets a server timestamp, newer than the explicit ones', async (t) => {
  const table = await createTable(t, 'ver_server_time', [['id', 'INTEGER']], { maxVersions: 5 });
  await putVersions(table, 1, [1]);
  await client.updateRow({
    tableName: table, condition: ignore, primaryKey: [{ id: int(1) }],
    updateOfAttributeColumns: [{ PUT: [{ a: 'now' }] }],
  });
  const [newest, oldest, ...rest] = versionsOf(await getRow(table, [{ id: int(1) }], { maxVersions: 5 }));
  assert.deepEqual(rest, []);
  assert.deepEqual(oldest, ['a', 'v1', base + 1]);
  assert.equal(newest[1], 'now');
  assert.ok(newest[2] > base + 1, `server timestamp ${newest[2]} is not after ${base + 1}`);
});

test('a timestamp outside the max version offset fails with 400 OTSParameterInvalid', async (t) => {
  const table = await createTable(t, 'ver_deviation', [['id', 'INTEGER']], { maxTimeDeviation: 3600 });
  const twoHoursAgo = Date.now() - 2 * 3600 * 1000;
  await assertOTSError(putRow(table, [{ id: int(1) }], [{ a: 'old', timestamp: int(twoHoursAgo) }]),
    400, 'OTSParameterInvalid', 'Invalid timestamp. Cell:a.');
  assert.deepEqual(await getRow(table, [{ id: int(1) }]), {});
  await putRow(table, [{ id: int(1) }], [{ a: 'recent', timestamp: int(base) }]);
  assert.deepEqual(versionsOf(await getRow(table, [{ id: int(1) }])), [['a', 'recent', base]]);
});
