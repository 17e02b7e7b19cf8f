// Single-row operations through the Node SDK: putRow, getRow, updateRow (PUT, DELETE,
// DELETE_ALL, INCREMENT) and deleteRow, with every value type the SDK writes.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TableStore, assertOTSError, client, createTable, getRow, ignore, int, primaryKeyOf, putRow,
  valuesOf, versionsOf,
} from './helpers.mjs';

const { UpdateType, ReturnType } = TableStore;

test('putRow then getRow returns every attribute type the SDK writes', async (t) => {
  const table = await createTable(t, 'rows_types', [['pk_str', 'STRING'], ['pk_int', 'INTEGER'], ['pk_bin', 'BINARY']]);
  const primaryKey = [{ pk_str: 'key é' }, { pk_int: int(-7) }, { pk_bin: Buffer.from([0x00, 0xff, 0x10]) }];
  const put = await client.putRow({
    tableName: table, condition: ignore, primaryKey,
    attributeColumns: [
      { int_small: int(42) },
      { int_negative: int(-1) },
      { int_big: int('9007199254740993') },
      { double: 3.25 },
      { double_negative: -0.5 },
      { bool_true: true },
      { bool_false: false },
      { string: 'héllo, 世界' },
      { string_empty: '' },
      { binary: Buffer.from([0x00, 0x01, 0xfe, 0xff]) },
    ],
    returnContent: { returnType: ReturnType.Primarykey },
  });
  assert.deepEqual(primaryKeyOf(put.row), { pk_str: 'key é', pk_int: -7n, pk_bin: Buffer.from([0x00, 0xff, 0x10]) },
    'putRow with ReturnType.Primarykey returns the primary key');
  assert.equal(put.consumed.capacityUnit.write, 1);

  const row = await getRow(table, primaryKey);
  assert.deepEqual(primaryKeyOf(row), { pk_str: 'key é', pk_int: -7n, pk_bin: Buffer.from([0x00, 0xff, 0x10]) });
  assert.deepEqual(row.attributes.map((a) => a.columnName), [
    'binary', 'bool_false', 'bool_true', 'double', 'double_negative', 'int_big', 'int_negative', 'int_small',
    'string', 'string_empty',
  ], 'attribute columns come sorted by name');
  assert.deepEqual(valuesOf(row), {
    int_small: 42n,
    int_negative: -1n,
    int_big: 9007199254740993n,
    double: 3.25,
    double_negative: -0.5,
    bool_true: true,
    bool_false: false,
    string: 'héllo, 世界',
    string_empty: '',
    binary: Buffer.from([0x00, 0x01, 0xfe, 0xff]),
  });
});

test('getRow of a missing row returns an empty row', async (t) => {
  const table = await createTable(t, 'rows_missing', [['id', 'INTEGER']]);
  assert.deepEqual(await getRow(table, [{ id: int(404) }]), {});
});

test('getRow with columnsToGet returns only those columns, and no row when none exists', async (t) => {
  const table = await createTable(t, 'rows_columns', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ a: 'A' }, { b: 'B' }, { c: 'C' }]);

  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }], { columnsToGet: ['c', 'a', 'unknown'] })), { a: 'A', c: 'C' });
  assert.deepEqual(await getRow(table, [{ id: int(1) }], { columnsToGet: ['unknown'] }), {});
});

test('putRow replaces the whole row', async (t) => {
  const table = await createTable(t, 'rows_replace', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ a: 'old' }, { b: int(1) }]);
  await putRow(table, [{ id: int(1) }], [{ c: true }]);
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { c: true });
});

test('updateRow PUT adds and overwrites columns and leaves the others', async (t) => {
  const table = await createTable(t, 'rows_update_put', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ keep: 'kept' }, { level: int(1) }]);
  await client.updateRow({
    tableName: table, condition: ignore, primaryKey: [{ id: int(1) }],
    updateOfAttributeColumns: [{ [UpdateType.PUT]: [{ level: int(2) }, { ratio: 0.75 }, { raw: Buffer.from('raw') }] }],
  });
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])),
    { keep: 'kept', level: 2n, ratio: 0.75, raw: Buffer.from('raw') });
});

test('updateRow creates a missing row', async (t) => {
  const table = await createTable(t, 'rows_update_create', [['id', 'INTEGER']]);
  await client.updateRow({
    tableName: table, condition: ignore, primaryKey: [{ id: int(9) }],
    updateOfAttributeColumns: [{ PUT: [{ level: int(3) }] }],
  });
  const row = await getRow(table, [{ id: int(9) }]);
  assert.deepEqual(primaryKeyOf(row), { id: 9n });
  assert.deepEqual(valuesOf(row), { level: 3n });
});

test('updateRow DELETE removes one version and DELETE_ALL removes a column', async (t) => {
  const table = await createTable(t, 'rows_update_delete', [['id', 'INTEGER']], { maxVersions: 3 });
  const base = Date.now() - 60_000;
  await putRow(table, [{ id: int(1) }], [
    { a: 'a1', timestamp: int(base + 1) },
    { a: 'a2', timestamp: int(base + 2) },
    { b: 'b1', timestamp: int(base + 1) },
    { c: 'c1', timestamp: int(base + 1) },
  ]);
  await client.updateRow({
    tableName: table, condition: ignore, primaryKey: [{ id: int(1) }],
    updateOfAttributeColumns: [
      { [UpdateType.DELETE]: [{ a: int(base + 2) }] },
      { [UpdateType.DELETE_ALL]: ['b'] },
    ],
  });
  const row = await getRow(table, [{ id: int(1) }], { maxVersions: 3 });
  assert.deepEqual(versionsOf(row), [['a', 'a1', base + 1], ['c', 'c1', base + 1]]);
});

test('updateRow with only deletes on a missing row creates no row', async (t) => {
  const table = await createTable(t, 'rows_update_nothing', [['id', 'INTEGER']]);
  await client.updateRow({
    tableName: table, condition: ignore, primaryKey: [{ id: int(1) }],
    updateOfAttributeColumns: [{ DELETE_ALL: ['a'] }],
  });
  assert.deepEqual(await getRow(table, [{ id: int(1) }]), {});
});

test('updateRow INCREMENT adds to an integer column, counting a missing column as 0', async (t) => {
  const table = await createTable(t, 'rows_increment', [['id', 'INTEGER']]);
  const increment = (delta) => client.updateRow({
    tableName: table, condition: ignore, primaryKey: [{ id: int(1) }],
    updateOfAttributeColumns: [{ [UpdateType.INCREMENT]: [{ counter: int(delta) }] }],
    returnContent: { returnType: ReturnType.AfterModify, returnColumns: ['counter'] },
  });

  const first = await increment(10);
  assert.deepEqual(valuesOf(first.row), { counter: 10n }, 'ReturnType.AfterModify returns the incremented column');
  const second = await increment(-3);
  assert.deepEqual(valuesOf(second.row), { counter: 7n });
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { counter: 7n });
});

test('updateRow INCREMENT on a non-integer column fails with 400 OTSParameterInvalid', async (t) => {
  const table = await createTable(t, 'rows_increment_bad', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ counter: 'ten' }]);
  await assertOTSError(client.updateRow({
    tableName: table, condition: ignore, primaryKey: [{ id: int(1) }],
    updateOfAttributeColumns: [{ INCREMENT: [{ counter: int(1) }] }],
  }), 400, 'OTSParameterInvalid');
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { counter: 'ten' });
});

test('deleteRow removes the row; IGNORE on a missing row succeeds', async (t) => {
  const table = await createTable(t, 'rows_delete', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ a: 'x' }]);
  await putRow(table, [{ id: int(2) }], [{ a: 'y' }]);

  const deleted = await client.deleteRow({ tableName: table, condition: ignore, primaryKey: [{ id: int(1) }] });
  assert.equal(deleted.consumed.capacityUnit.write, 1);
  assert.deepEqual(await getRow(table, [{ id: int(1) }]), {});
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(2) }])), { a: 'y' }, 'other rows are untouched');

  await client.deleteRow({ tableName: table, condition: ignore, primaryKey: [{ id: int(1) }] });
});

test('a primary key that does not match the schema fails with 400 OTSInvalidPK', async (t) => {
  const table = await createTable(t, 'rows_bad_pk', [['part', 'STRING'], ['seq', 'INTEGER']]);
  const cases = [
    ['a wrong column name', [{ part: 'p' }, { other: int(1) }], 'Validate PK name fail. Input: other, Meta: seq.'],
    ['too few columns', [{ part: 'p' }], 'Validate PK size fail. Input: 1, Meta: 2.'],
    ['a wrong type', [{ part: 'p' }, { seq: 'one' }], 'Validate PK type fail. Input: VT_STRING, Meta: VT_INTEGER.'],
  ];
  for (const [name, primaryKey, message] of cases) {
    await t.test(name, async () => {
      await assertOTSError(putRow(table, primaryKey, [{ a: 'x' }]), 400, 'OTSInvalidPK', message);
      await assertOTSError(getRow(table, primaryKey), 400, 'OTSInvalidPK', message);
      await assertOTSError(client.updateRow({
        tableName: table, condition: ignore, primaryKey, updateOfAttributeColumns: [{ PUT: [{ a: 'x' }] }],
      }), 400, 'OTSInvalidPK', message);
      await assertOTSError(client.deleteRow({ tableName: table, condition: ignore, primaryKey }),
        400, 'OTSInvalidPK', message);
    });
  }
});
