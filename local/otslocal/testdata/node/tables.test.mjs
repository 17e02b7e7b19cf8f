// Table DDL through the Node SDK: createTable, listTable, describeTable, deleteTable and
// their errors (Tablestore error codes reference, CreateTable section).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TableStore, assertOTSError, client, createTable, createTableRequest, int, uniqueTableName,
} from './helpers.mjs';

// toNumber reads an int64 protobuf field, which protobufjs decodes as a Long.
const toNumber = (value) => Number(value.toString());

async function isListed(tableName) {
  const { tableNames } = await client.listTable({});
  return tableNames.includes(tableName);
}

// deleteIfListed is the cleanup of a test that deletes its table itself, or expects it
// not to be created, and may stop before.
async function deleteIfListed(tableName) {
  if (await isListed(tableName)) {
    await client.deleteTable({ tableName });
  }
}

test('createTable, listTable, describeTable and deleteTable round-trip a table', async (t) => {
  const tableName = uniqueTableName('ddl');
  t.after(() => deleteIfListed(tableName));
  await client.createTable(createTableRequest(tableName,
    [['pk_str', 'STRING'], ['pk_int', 'INTEGER'], ['pk_bin', 'BINARY']],
    { maxVersions: 3, timeToLive: 86400, maxTimeDeviation: 3600 }));

  assert.ok(await isListed(tableName), `${tableName} not listed after createTable`);

  const described = await client.describeTable({ tableName });
  assert.equal(described.tableMeta.tableName, tableName);
  assert.deepEqual(described.tableMeta.primaryKey.map(({ name, type }) => [name, type]), [
    ['pk_str', TableStore.PrimaryKeyType.STRING],
    ['pk_int', TableStore.PrimaryKeyType.INTEGER],
    ['pk_bin', TableStore.PrimaryKeyType.BINARY],
  ]);
  assert.equal(described.tableOptions.timeToLive, 86400);
  assert.equal(described.tableOptions.maxVersions, 3);
  assert.equal(toNumber(described.tableOptions.deviationCellVersionInSec), 3600);
  assert.equal(described.tableStatus, 1, 'table status ACTIVE');
  assert.equal(described.reservedThroughputDetails.capacityUnit.read, 0);
  assert.equal(described.reservedThroughputDetails.capacityUnit.write, 0);
  assert.equal(described.streamDetails.enableStream, false);

  await client.deleteTable({ tableName });
  assert.ok(!(await isListed(tableName)), `${tableName} still listed after deleteTable`);
  await assertOTSError(client.describeTable({ tableName }), 404, 'OTSObjectNotExist', 'Requested table does not exist.');
});

test('describeTable reports the default max version offset of one day', async (t) => {
  const tableName = await createTable(t, 'ddl_default', [['id', 'INTEGER']]);
  const described = await client.describeTable({ tableName });
  assert.equal(toNumber(described.tableOptions.deviationCellVersionInSec), 86400);
  assert.equal(described.tableOptions.timeToLive, -1);
  assert.equal(described.tableOptions.maxVersions, 1);
});

test('createTable on an existing name fails with 409 OTSObjectAlreadyExist', async (t) => {
  const tableName = await createTable(t, 'ddl_exists', [['id', 'INTEGER']]);
  await assertOTSError(client.createTable(createTableRequest(tableName, [['id', 'INTEGER']])),
    409, 'OTSObjectAlreadyExist', 'Requested table already exists.');
});

test('operations on a missing table fail with 404 OTSObjectNotExist', async () => {
  const tableName = uniqueTableName('ddl_missing');
  const primaryKey = [{ id: int(1) }];
  const notExist = (call) => assertOTSError(call, 404, 'OTSObjectNotExist', 'Requested table does not exist.');
  await notExist(client.describeTable({ tableName }));
  await notExist(client.deleteTable({ tableName }));
  await notExist(client.getRow({ tableName, primaryKey }));
  await notExist(client.putRow({
    tableName, primaryKey, attributeColumns: [{ a: 'x' }],
    condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null),
  }));
  await notExist(client.getRange({
    tableName, direction: TableStore.Direction.FORWARD,
    inclusiveStartPrimaryKey: [{ id: int(0) }], exclusiveEndPrimaryKey: [{ id: int(10) }],
  }));
});

test('createTable with a bad schema fails with 400 OTSParameterInvalid', async (t) => {
  const cases = [
    ['no primary key', [], {}, 'The number of primary key columns must be in range: [1, 4].'],
    ['five primary key columns', [['a', 'STRING'], ['b', 'STRING'], ['c', 'STRING'], ['d', 'STRING'], ['e', 'STRING']], {},
      'The number of primary key columns must be in range: [1, 4].'],
    ['a primary key type outside INTEGER, STRING, BINARY', [['a', 4]], {},
      'Invalid column type, only STRING,INTEGER,BINARY is allowed.'],
    ['a repeated primary key name', [['a', 'STRING'], ['a', 'INTEGER']], {}, "Duplicated primary key name: 'a'."],
    ['max versions 0', [['a', 'STRING']], { maxVersions: 0 }, 'The maximum versions cannot be less than or equal to 0.'],
    ['time to live 0', [['a', 'STRING']], { timeToLive: 0 }, 'TimeToLive cannot be 0 or less than -1.'],
  ];
  for (const [name, primaryKey, options, message] of cases) {
    await t.test(name, async (st) => {
      const tableName = uniqueTableName('ddl_bad');
      st.after(() => deleteIfListed(tableName));
      await assertOTSError(client.createTable(createTableRequest(tableName, primaryKey, options)),
        400, 'OTSParameterInvalid', message);
      assert.ok(!(await isListed(tableName)), `${tableName} was created`);
    });
  }
  await t.test('a table name that is not [A-Za-z_][A-Za-z0-9_]*', async () => {
    await assertOTSError(client.createTable(createTableRequest('9bad-name', [['a', 'STRING']])), 400, 'OTSParameterInvalid');
  });
});
