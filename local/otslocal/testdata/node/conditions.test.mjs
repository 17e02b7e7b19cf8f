// Write conditions through the Node SDK: RowExistenceExpectation and column conditions
// (SingleColumnCondition, CompositeCondition) on putRow, updateRow, deleteRow and
// batchWriteRow. A failed condition is 403 OTSConditionCheckFail and changes nothing
// (Tablestore Condition and RowExistenceExpectation API reference).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TableStore, assertOTSError, client, condition, createTable, getRow, int, putRow, valuesOf,
} from './helpers.mjs';

const { SingleColumnCondition, CompositeCondition, ComparatorType, LogicalOperator } = TableStore;

const conditionFailed = (call) => assertOTSError(call, 403, 'OTSConditionCheckFail', 'Condition check failed.');

// update sets level on row id with the given condition.
function update(table, id, level, rowCondition) {
  return client.updateRow({
    tableName: table, condition: rowCondition, primaryKey: [{ id: int(id) }],
    updateOfAttributeColumns: [{ PUT: [{ level: int(level) }] }],
  });
}

function deleteRow(table, id, rowCondition) {
  return client.deleteRow({ tableName: table, condition: rowCondition, primaryKey: [{ id: int(id) }] });
}

// composite combines sub-conditions with a LogicalOperator.
function composite(operator, ...subConditions) {
  const combined = new CompositeCondition(operator);
  for (const sub of subConditions) {
    combined.addSubCondition(sub);
  }
  return combined;
}

test('putRow EXPECT_NOT_EXIST writes a new row and fails on an existing one', async (t) => {
  const table = await createTable(t, 'cond_put_not_exist', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ level: int(1) }], condition('EXPECT_NOT_EXIST'));
  await conditionFailed(putRow(table, [{ id: int(1) }], [{ level: int(2) }], condition('EXPECT_NOT_EXIST')));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 1n });
});

test('putRow EXPECT_EXIST fails on a missing row and replaces an existing one', async (t) => {
  const table = await createTable(t, 'cond_put_exist', [['id', 'INTEGER']]);
  await conditionFailed(putRow(table, [{ id: int(1) }], [{ level: int(1) }], condition('EXPECT_EXIST')));
  assert.deepEqual(await getRow(table, [{ id: int(1) }]), {}, 'the failed put wrote nothing');
  await putRow(table, [{ id: int(1) }], [{ level: int(1) }]);
  await putRow(table, [{ id: int(1) }], [{ level: int(2) }], condition('EXPECT_EXIST'));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 2n });
});

test('updateRow EXPECT_EXIST on a missing row fails and creates nothing', async (t) => {
  const table = await createTable(t, 'cond_update_exist', [['id', 'INTEGER']]);
  await conditionFailed(update(table, 1, 5, condition('EXPECT_EXIST')));
  assert.deepEqual(await getRow(table, [{ id: int(1) }]), {});
  await putRow(table, [{ id: int(1) }], [{ level: int(1) }]);
  await update(table, 1, 5, condition('EXPECT_EXIST'));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 5n });
});

test('deleteRow EXPECT_EXIST on a missing row fails; on an existing row it deletes', async (t) => {
  const table = await createTable(t, 'cond_delete_exist', [['id', 'INTEGER']]);
  await conditionFailed(deleteRow(table, 1, condition('EXPECT_EXIST')));
  await putRow(table, [{ id: int(1) }], [{ level: int(1) }]);
  await deleteRow(table, 1, condition('EXPECT_EXIST'));
  assert.deepEqual(await getRow(table, [{ id: int(1) }]), {});
});

test('SingleColumnCondition on putRow, updateRow and deleteRow: a passing condition writes, a failing one changes nothing', async (t) => {
  const table = await createTable(t, 'cond_single', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ level: int(2) }, { name: 'alice' }]);
  const levelAbove = (n) => condition('IGNORE', new SingleColumnCondition('level', int(n), ComparatorType.GREATER_THAN));

  await conditionFailed(putRow(table, [{ id: int(1) }], [{ level: int(9) }], levelAbove(2)));
  await conditionFailed(update(table, 1, 9, levelAbove(5)));
  await conditionFailed(deleteRow(table, 1, levelAbove(2)));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 2n, name: 'alice' });

  await update(table, 1, 3, levelAbove(1));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 3n, name: 'alice' });
  await putRow(table, [{ id: int(1) }], [{ level: int(4) }],
    condition('EXPECT_EXIST', new SingleColumnCondition('name', 'alice', ComparatorType.EQUAL)));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 4n });
  await deleteRow(table, 1, levelAbove(3));
  assert.deepEqual(await getRow(table, [{ id: int(1) }]), {});
});

test('SingleColumnCondition compares each value type with each comparator', async (t) => {
  const table = await createTable(t, 'cond_types', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [
    { i: int(10) }, { d: 2.5 }, { s: 'm' }, { b: true }, { bin: Buffer.from([0x10, 0x20]) },
  ]);
  const cases = [
    ['i', int(10), ComparatorType.EQUAL, true],
    ['i', int(10), ComparatorType.NOT_EQUAL, false],
    ['i', int(9), ComparatorType.GREATER_THAN, true],
    ['i', int(10), ComparatorType.GREATER_THAN, false],
    ['i', int(10), ComparatorType.GREATER_EQUAL, true],
    ['i', int(11), ComparatorType.LESS_THAN, true],
    ['i', int(9), ComparatorType.LESS_EQUAL, false],
    ['d', 2.5, ComparatorType.EQUAL, true],
    ['d', 3.0, ComparatorType.LESS_THAN, true],
    ['d', 2.0, ComparatorType.LESS_EQUAL, false],
    ['s', 'a', ComparatorType.GREATER_THAN, true],
    ['s', 'z', ComparatorType.GREATER_EQUAL, false],
    ['s', 'm', ComparatorType.NOT_EQUAL, false],
    ['b', true, ComparatorType.EQUAL, true],
    ['b', false, ComparatorType.EQUAL, false],
    ['bin', Buffer.from([0x10, 0x20]), ComparatorType.EQUAL, true],
    ['bin', Buffer.from([0x10]), ComparatorType.GREATER_THAN, true],
    ['bin', Buffer.from([0x11]), ComparatorType.GREATER_THAN, false],
  ];
  const comparatorName = (comparator) => Object.keys(ComparatorType).find((name) => ComparatorType[name] === comparator);
  const show = (value) => (Buffer.isBuffer(value) ? `0x${value.toString('hex')}` : String(value));
  for (const [column, value, comparator, passes] of cases) {
    await t.test(`${column} ${comparatorName(comparator)} ${show(value)}: ${passes ? 'passes' : 'fails'}`, async () => {
      const write = update(table, 1, 0, condition('EXPECT_EXIST', new SingleColumnCondition(column, value, comparator)));
      if (passes) {
        await write;
      } else {
        await conditionFailed(write);
      }
    });
  }
});

test('SingleColumnCondition on a missing column passes by default and fails with passIfMissing false', async (t) => {
  const table = await createTable(t, 'cond_missing', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ name: 'alice' }]);

  await update(table, 1, 1, condition('IGNORE', new SingleColumnCondition('level', int(5), ComparatorType.GREATER_THAN)));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 1n, name: 'alice' });

  await conditionFailed(putRow(table, [{ id: int(1) }], [{ other: 'x' }],
    condition('IGNORE', new SingleColumnCondition('absent', int(5), ComparatorType.EQUAL, false))));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 1n, name: 'alice' });
});

test('SingleColumnCondition with latestVersionOnly false passes when any version matches', async (t) => {
  const table = await createTable(t, 'cond_versions', [['id', 'INTEGER']], { maxVersions: 3 });
  const base = Date.now() - 60_000;
  await putRow(table, [{ id: int(1) }], [{ level: int(1), timestamp: int(base + 1) }, { level: int(5), timestamp: int(base + 2) }]);
  const levelIsOne = (latestVersionOnly) =>
    condition('IGNORE', new SingleColumnCondition('level', int(1), ComparatorType.EQUAL, true, latestVersionOnly));

  await conditionFailed(putRow(table, [{ id: int(1) }], [{ note: 'latest' }], levelIsOne(true)));
  await putRow(table, [{ id: int(1) }], [{ note: 'any' }], levelIsOne(false));
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { note: 'any' });
});

test('CompositeCondition combines conditions with AND, OR and NOT', async (t) => {
  const table = await createTable(t, 'cond_composite', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ level: int(3) }, { name: 'alice' }]);
  const levelAbove = (n) => new SingleColumnCondition('level', int(n), ComparatorType.GREATER_THAN);
  const nameIs = (name) => new SingleColumnCondition('name', name, ComparatorType.EQUAL);
  const cases = [
    ['AND, both true', composite(LogicalOperator.AND, levelAbove(1), nameIs('alice')), true],
    ['AND, one false', composite(LogicalOperator.AND, levelAbove(1), nameIs('bob')), false],
    ['OR, one true', composite(LogicalOperator.OR, levelAbove(5), nameIs('alice')), true],
    ['OR, both false', composite(LogicalOperator.OR, levelAbove(5), nameIs('bob')), false],
    ['NOT of a false condition', composite(LogicalOperator.NOT, nameIs('bob')), true],
    ['NOT of a true condition', composite(LogicalOperator.NOT, nameIs('alice')), false],
    ['nested: level > 1 AND (name = bob OR NOT name = carol)',
      composite(LogicalOperator.AND, levelAbove(1),
        composite(LogicalOperator.OR, nameIs('bob'), composite(LogicalOperator.NOT, nameIs('carol')))), true],
  ];
  for (const [name, columnCondition, passes] of cases) {
    await t.test(name, async () => {
      const write = update(table, 1, 3, condition('EXPECT_EXIST', columnCondition));
      if (passes) {
        await write;
      } else {
        await conditionFailed(write);
      }
    });
  }
});

test('batchWriteRow checks column conditions per row', async (t) => {
  const table = await createTable(t, 'cond_batch', [['id', 'INTEGER']]);
  await putRow(table, [{ id: int(1) }], [{ level: int(1) }]);
  await putRow(table, [{ id: int(2) }], [{ level: int(2) }]);
  const levelAboveOne = condition('IGNORE', new SingleColumnCondition('level', int(1), ComparatorType.GREATER_THAN));

  const response = await client.batchWriteRow({
    tables: [{
      tableName: table,
      rows: [1, 2].map((id) => ({
        type: 'UPDATE', condition: levelAboveOne, primaryKey: [{ id: int(id) }], attributeColumns: [{ PUT: [{ seen: true }] }],
      })),
    }],
  });
  assert.deepEqual(response.tables.map(({ isOk, errorCode }) => [isOk, errorCode]), [
    [false, 'OTSConditionCheckFail'],
    [true, null],
  ]);
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(1) }])), { level: 1n });
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(2) }])), { level: 2n, seen: true });
});
