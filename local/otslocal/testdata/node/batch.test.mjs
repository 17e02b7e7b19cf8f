// batchWriteRow and batchGetRow through the Node SDK: several tables per request,
// results in request order, and per-row errors inside an HTTP 200 answer.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TableStore, assertOTSError, client, condition, createTable, getRow, ignore, int, primaryKeyOf, putRow,
  uniqueTableName, valuesOf,
} from './helpers.mjs';

// summary keeps what a test compares of one batch result row.
const summary = ({ tableName, isOk, errorCode, errorMessage }) => ({ tableName, isOk, errorCode, errorMessage });
const ok = (tableName) => ({ tableName, isOk: true, errorCode: null, errorMessage: null });

test('batchWriteRow applies PUT, UPDATE and DELETE rows across tables, results in request order', async (t) => {
  const users = await createTable(t, 'batch_users', [['id', 'INTEGER']]);
  const events = await createTable(t, 'batch_events', [['name', 'STRING']]);
  await putRow(users, [{ id: int(2) }], [{ level: int(1) }, { note: 'old' }]);
  await putRow(users, [{ id: int(3) }], [{ level: int(9) }]);

  const response = await client.batchWriteRow({
    tables: [
      {
        tableName: users,
        rows: [
          { type: 'PUT', condition: ignore, primaryKey: [{ id: int(1) }], attributeColumns: [{ level: int(5) }, { on: true }] },
          { type: 'UPDATE', condition: ignore, primaryKey: [{ id: int(2) }], attributeColumns: [{ PUT: [{ level: int(2) }] }, { DELETE_ALL: ['note'] }] },
          { type: 'DELETE', condition: ignore, primaryKey: [{ id: int(3) }] },
        ],
      },
      {
        tableName: events,
        rows: [
          {
            type: 'PUT', condition: ignore, primaryKey: [{ name: 'start' }], attributeColumns: [{ at: 1.5 }],
            returnContent: { returnType: TableStore.ReturnType.Primarykey },
          },
        ],
      },
    ],
  });
  assert.deepEqual(response.tables.map(summary), [ok(users), ok(users), ok(users), ok(events)]);
  assert.deepEqual(primaryKeyOf(response.tables[3]), { name: 'start' }, 'ReturnType.Primarykey returns the key');

  assert.deepEqual(valuesOf(await getRow(users, [{ id: int(1) }])), { level: 5n, on: true });
  assert.deepEqual(valuesOf(await getRow(users, [{ id: int(2) }])), { level: 2n });
  assert.deepEqual(await getRow(users, [{ id: int(3) }]), {});
  assert.deepEqual(valuesOf(await getRow(events, [{ name: 'start' }])), { at: 1.5 });
});

test('batchWriteRow reports per-row errors and applies the other rows', async (t) => {
  const table = await createTable(t, 'batch_row_errors', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(2) }], [{ level: int(1) }]);

  const response = await client.batchWriteRow({
    tables: [{
      tableName: table,
      rows: [
        { type: 'PUT', condition: ignore, primaryKey: [{ id: int(1) }], attributeColumns: [{ level: int(3) }] },
        { type: 'PUT', condition: condition('EXPECT_NOT_EXIST'), primaryKey: [{ id: int(2) }], attributeColumns: [{ level: int(7) }] },
        { type: 'UPDATE', condition: condition('EXPECT_EXIST'), primaryKey: [{ id: int(5) }], attributeColumns: [{ PUT: [{ level: int(7) }] }] },
        { type: 'PUT', condition: ignore, primaryKey: [{ id: 'not an integer' }], attributeColumns: [{ level: int(7) }] },
        { type: 'DELETE', condition: condition('EXPECT_EXIST'), primaryKey: [{ id: int(6) }] },
        { type: 'PUT', condition: ignore, primaryKey: [{ id: int(4) }], attributeColumns: [{ level: int(4) }] },
      ],
    }],
  });
  const conditionFailed = { tableName: table, isOk: false, errorCode: 'OTSConditionCheckFail', errorMessage: 'Condition check failed.' };
  assert.deepEqual(response.tables.map(summary), [
    ok(table),
    conditionFailed,
    conditionFailed,
    {
      tableName: table, isOk: false, errorCode: 'OTSInvalidPK',
      errorMessage: 'Validate PK type fail. Input: VT_STRING, Meta: VT_INTEGER.',
    },
    conditionFailed,
    ok(table),
  ]);

  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 3n });
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(2) }])), { level: 1n }, 'a failed row leaves the row as it was');
  assert.deepEqual(await getRow(table, [{ id: int(5) }]), {});
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(4) }])), { level: 4n });
});

test('batchGetRow returns rows per table in request order, missing rows empty, bad keys as row errors', async (t) => {
  const users = await createTable(t, 'batch_get_users', [['id', 'INTEGER']]);
  const names = await createTable(t, 'batch_get_names', [['name', 'STRING']]);
  await putRow(users, [{ id: int(1) }], [{ level: int(1) }, { note: 'one' }]);
  await putRow(users, [{ id: int(2) }], [{ level: int(2) }, { note: 'two' }]);
  await putRow(names, [{ name: 'x' }], [{ bin: Buffer.from([1, 2]) }]);

  const response = await client.batchGetRow({
    tables: [
      {
        tableName: users,
        primaryKey: [[{ id: int(2) }], [{ id: int(404) }], [{ id: int(1) }], [{ id: 'bad' }]],
        columnsToGet: ['level'],
      },
      { tableName: names, primaryKey: [[{ name: 'x' }]], maxVersions: 1 },
    ],
  });

  assert.equal(response.tables.length, 2);
  const [userRows, nameRows] = response.tables;
  assert.deepEqual(userRows.map(summary), [
    ok(users), ok(users), ok(users),
    { tableName: users, isOk: false, errorCode: 'OTSInvalidPK', errorMessage: 'Validate PK type fail. Input: VT_STRING, Meta: VT_INTEGER.' },
  ]);
  assert.deepEqual(primaryKeyOf(userRows[0]), { id: 2n });
  assert.deepEqual(valuesOf(userRows[0]), { level: 2n }, 'columnsToGet applies');
  assert.equal(userRows[1].primaryKey, null, 'a missing row has no primary key');
  assert.equal(userRows[1].attributes, null);
  assert.deepEqual(primaryKeyOf(userRows[2]), { id: 1n });
  assert.deepEqual(valuesOf(userRows[2]), { level: 1n });
  assert.deepEqual(nameRows.map(summary), [ok(names)]);
  assert.deepEqual(valuesOf(nameRows[0]), { bin: Buffer.from([1, 2]) });
});

test('batch requests on a missing table fail with 404 OTSObjectNotExist', async () => {
  const tableName = uniqueTableName('batch_missing');
  await assertOTSError(client.batchGetRow({ tables: [{ tableName, primaryKey: [[{ id: int(1) }]] }] }),
    404, 'OTSObjectNotExist', 'Requested table does not exist.');
  await assertOTSError(client.batchWriteRow({
    tables: [{ tableName, rows: [{ type: 'PUT', condition: ignore, primaryKey: [{ id: int(1) }], attributeColumns: [{ a: 'x' }] }] }],
  }), 404, 'OTSObjectNotExist', 'Requested table does not exist.');
});

test('batch requests over the row limits fail with 400 OTSParameterInvalid', async (t) => {
  const table = await createTable(t, 'batch_limits', [['id', 'INTEGER']]);
  const key = (i) => [{ id: int(i) }];
  const indexes = (n) => Array.from({ length: n }, (_, i) => i);

  await assertOTSError(client.batchGetRow({ tables: [{ tableName: table, primaryKey: indexes(101).map(key) }] }),
    400, 'OTSParameterInvalid', 'Rows count exceeds the upper limit: 100.');
  await assertOTSError(client.batchWriteRow({
    tables: [{
      tableName: table,
      rows: indexes(201).map((i) => ({ type: 'PUT', condition: ignore, primaryKey: key(i), attributeColumns: [{ a: 'x' }] })),
    }],
  }), 400, 'OTSParameterInvalid', 'Rows count exceeds the upper limit: 200.');

  const response = await client.batchGetRow({ tables: [{ tableName: table, primaryKey: indexes(100).map(key) }] });
  assert.equal(response.tables[0].length, 100, '100 rows are within the limit');
  assert.deepEqual(await getRow(table, [{ id: int(0) }]), {}, 'the refused write wrote nothing');
});
