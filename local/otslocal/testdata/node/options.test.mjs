// Table options and the Stream specification through the Node SDK: every field it can send
// (timeToLive, maxVersions, maxTimeDeviation, allowUpdate; enableStream, expirationTime)
// is stored, returned by describeTable and enforced, and updateTable refuses what the
// service refuses. (The SDK's protocol has no update_full_row and no Stream columns.)

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  assertOTSError, client, createTable, createTableRequest, getRow, ignore, int, putRow, uniqueTableName, valuesOf,
} from './helpers.mjs';

// toNumber reads an int64 protobuf field, which protobufjs decodes as a Long.
const toNumber = (value) => Number(value.toString());

// options is what describeTable reports of the table's options.
async function options(tableName) {
  const { tableOptions } = await client.describeTable({ tableName });
  return {
    timeToLive: tableOptions.timeToLive,
    maxVersions: tableOptions.maxVersions,
    maxTimeDeviation: toNumber(tableOptions.deviationCellVersionInSec),
    allowUpdate: tableOptions.allowUpdate,
  };
}

const updateNotAllowed = (tableName) => `UpdateRow is not allowed on table '${tableName}': its allow_update option is false.`;

function updateRow(tableName, primaryKey, value) {
  return client.updateRow({
    tableName, condition: ignore, primaryKey, updateOfAttributeColumns: [{ PUT: [{ v: value }] }],
  });
}

test('createTable stores every table option, and describeTable returns them', async (t) => {
  const tableName = await createTable(t, 'opt_all', [['id', 'INTEGER']],
    { timeToLive: 2 * 86400, maxVersions: 4, maxTimeDeviation: 600, allowUpdate: false });
  assert.deepEqual(await options(tableName),
    { timeToLive: 2 * 86400, maxVersions: 4, maxTimeDeviation: 600, allowUpdate: false });
});

test('allowUpdate false refuses updateRow, alone in a batch, until updateTable allows it', async (t) => {
  const tableName = await createTable(t, 'opt_no_update', [['id', 'INTEGER']], { allowUpdate: false });
  await putRow(tableName, [{ id: int(1) }], [{ v: 'put' }]);
  await assertOTSError(updateRow(tableName, [{ id: int(1) }], 'updated'), 400, 'OTSParameterInvalid', updateNotAllowed(tableName));

  const batch = await client.batchWriteRow({
    tables: [{
      tableName,
      rows: [
        { type: 'PUT', condition: ignore, primaryKey: [{ id: int(2) }], attributeColumns: [{ v: 'batch put' }] },
        { type: 'UPDATE', condition: ignore, primaryKey: [{ id: int(1) }], attributeColumns: [{ PUT: [{ v: 'batch update' }] }] },
      ],
    }],
  });
  assert.deepEqual(batch.tables.map(({ isOk, errorCode, errorMessage }) => ({ isOk, errorCode, errorMessage })), [
    { isOk: true, errorCode: null, errorMessage: null },
    { isOk: false, errorCode: 'OTSParameterInvalid', errorMessage: updateNotAllowed(tableName) },
  ]);
  assert.deepEqual(valuesOf(await getRow(tableName, [{ id: int(1) }])), { v: 'put' });

  await client.updateTable({ tableName, tableOptions: { allowUpdate: true } });
  assert.equal((await options(tableName)).allowUpdate, true);
  await updateRow(tableName, [{ id: int(1) }], 'updated');
  assert.deepEqual(valuesOf(await getRow(tableName, [{ id: int(1) }])), { v: 'updated' });
});

test('updateTable changes only the options it sends', async (t) => {
  const tableName = await createTable(t, 'opt_update', [['id', 'INTEGER']], { maxVersions: 2, maxTimeDeviation: 600 });
  await client.updateTable({ tableName, tableOptions: { maxVersions: 5 } });
  assert.deepEqual(await options(tableName), { timeToLive: -1, maxVersions: 5, maxTimeDeviation: 600, allowUpdate: true });
  await client.updateTable({ tableName, tableOptions: { timeToLive: 86400, maxTimeDeviation: 60 } });
  assert.deepEqual(await options(tableName), { timeToLive: 86400, maxVersions: 5, maxTimeDeviation: 60, allowUpdate: true });
});

test('a time to live under a day is refused by createTable and updateTable', async (t) => {
  const refused = uniqueTableName('opt_short_ttl');
  await assertOTSError(client.createTable(createTableRequest(refused, [['id', 'INTEGER']], { timeToLive: 3600 })),
    400, 'OTSParameterInvalid', 'TimeToLive must be -1 or at least 86400 seconds, got 3600.');
  const { tableNames } = await client.listTable({});
  assert.ok(!tableNames.includes(refused), `${refused} was created`);

  const tableName = await createTable(t, 'opt_ttl', [['id', 'INTEGER']]);
  await assertOTSError(client.updateTable({ tableName, tableOptions: { timeToLive: 100 } }),
    400, 'OTSParameterInvalid', 'TimeToLive must be -1 or at least 86400 seconds, got 100.');
  assert.equal((await options(tableName)).timeToLive, -1, 'a refused updateTable changes nothing');
});

test('the Stream: createTable enables it, describeTable reports it, updateTable disables it', async (t) => {
  const tableName = uniqueTableName('opt_stream');
  await client.createTable({
    ...createTableRequest(tableName, [['id', 'INTEGER']]),
    streamSpecification: { enableStream: true, expirationTime: 12 },
  });
  t.after(() => client.deleteTable({ tableName }));
  const { streamDetails } = await client.describeTable({ tableName });
  assert.equal(streamDetails.enableStream, true);
  assert.equal(streamDetails.expirationTime, 12);
  assert.ok(streamDetails.streamId.length > 0);
  assert.ok(toNumber(streamDetails.lastEnableTime) > 0);

  await assertOTSError(client.updateTable({ tableName, tableOptions: {}, streamSpecification: { enableStream: false, expirationTime: 24 } }),
    400, 'OTSParameterInvalid', 'Expiration time is invalid when enableStream is false');
  assert.equal((await client.describeTable({ tableName })).streamDetails.enableStream, true, 'a refused updateTable changes nothing');

  await client.updateTable({ tableName, tableOptions: {}, streamSpecification: { enableStream: false } });
  assert.equal((await client.describeTable({ tableName })).streamDetails.enableStream, false);
});
