// Instances through the Node SDK: as on the service, each instance name is a namespace of
// its own, and two clients with different instance names on one server never see each
// other's tables.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  assertOTSError, clientFor, createTable, ignore, int, uniqueTableName, valuesOf,
} from './helpers.mjs';

test('two instances on one server never see each other\'s tables', async (t) => {
  const alpha = clientFor(uniqueTableName('alpha'));
  const beta = clientFor(uniqueTableName('beta'));
  const tableName = await createTable(t, 'inst', [['id', 'INTEGER']], {}, alpha);
  await alpha.putRow({ tableName, condition: ignore, primaryKey: [{ id: int(1) }], attributeColumns: [{ owner: 'alpha' }] });

  assert.deepEqual((await beta.listTable({})).tableNames, [], 'beta lists none of alpha\'s tables');
  assert.deepEqual((await alpha.listTable({})).tableNames, [tableName]);
  await assertOTSError(beta.describeTable({ tableName }), 404, 'OTSObjectNotExist', 'Requested table does not exist.');
  await assertOTSError(beta.getRow({ tableName, primaryKey: [{ id: int(1) }] }), 404, 'OTSObjectNotExist');

  await createTable(t, 'unused', [['id', 'INTEGER']], {}, beta);
  await beta.createTable({
    tableMeta: { tableName, primaryKey: [{ name: 'name', type: 'STRING' }] },
    reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
    tableOptions: { timeToLive: -1, maxVersions: 1 },
  });
  t.after(() => beta.deleteTable({ tableName }));
  await beta.putRow({ tableName, condition: ignore, primaryKey: [{ name: 'one' }], attributeColumns: [{ owner: 'beta' }] });

  const read = async (instanceClient, primaryKey) => valuesOf((await instanceClient.getRow({ tableName, primaryKey, maxVersions: 1 })).row);
  assert.deepEqual(await read(alpha, [{ id: int(1) }]), { owner: 'alpha' }, 'a table of the same name in another instance is another table');
  assert.deepEqual(await read(beta, [{ name: 'one' }]), { owner: 'beta' });
});
