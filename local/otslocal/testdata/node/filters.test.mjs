// Read filters through the Node SDK (the columnFilter parameter): SingleColumnCondition
// and CompositeCondition drop rows, ColumnPaginationFilter pages the columns of each row,
// on getRow, batchGetRow and getRange (Tablestore filter API reference).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TableStore, client, createTable, getRow, int, primaryKeyOf, putRow, requestKey, valuesOf, versionsOf,
} from './helpers.mjs';

const { SingleColumnCondition, CompositeCondition, ColumnPaginationFilter, ComparatorType, LogicalOperator, Direction } = TableStore;

const levelAbove = (n, passIfMissing) => new SingleColumnCondition('level', int(n), ComparatorType.GREATER_THAN, passIfMissing);

// createLevelTable writes rows id 1..5 with level 0, 1, 2, 3 and none, and a name each.
async function createLevelTable(t) {
  const table = await createTable(t, 'filter_levels', [['id', 'INTEGER']]);
  const rows = [
    [1, [{ level: int(0) }, { name: 'a' }]],
    [2, [{ level: int(1) }, { name: 'b' }]],
    [3, [{ level: int(2) }, { name: 'c' }]],
    [4, [{ level: int(3) }, { name: 'd' }]],
    [5, [{ name: 'e' }]],
  ];
  for (const [id, columns] of rows) {
    await putRow(table, [{ id: int(id) }], columns);
  }
  return table;
}

// rangeIds reads ids 1..5 with the filter, one request per limit rows, following
// nextStartPrimaryKey, and returns the ids of the rows returned.
async function rangeIds(table, columnFilter, limit) {
  const ids = [];
  let start = [{ id: int(1) }];
  while (start !== null) {
    const response = await client.getRange({
      tableName: table, direction: Direction.FORWARD,
      inclusiveStartPrimaryKey: start, exclusiveEndPrimaryKey: [{ id: int(6) }],
      columnFilter, limit,
    });
    ids.push(...response.rows.map((row) => Number(primaryKeyOf(row).id)));
    start = response.nextStartPrimaryKey === null ? null : requestKey(response.nextStartPrimaryKey);
  }
  return ids;
}

test('getRow with a SingleColumnCondition filter returns the row only when it passes', async (t) => {
  const table = await createLevelTable(t);
  assert.deepEqual(valuesOf(await getRow(table, [{ id: int(3) }], { columnFilter: levelAbove(1) })), { level: 2n, name: 'c' });
  assert.deepEqual(await getRow(table, [{ id: int(2) }], { columnFilter: levelAbove(1) }), {});
});

test('getRange with the filter level > 1 returns the passing rows', async (t) => {
  const table = await createLevelTable(t);
  assert.deepEqual(await rangeIds(table, levelAbove(1)), [3, 4, 5], 'a row without level passes by default');
  assert.deepEqual(await rangeIds(table, levelAbove(1, false)), [3, 4], 'passIfMissing false drops it');
});

test('getRange with a filter pages through every passing row', async (t) => {
  const table = await createLevelTable(t);
  assert.deepEqual(await rangeIds(table, levelAbove(0, false), 2), [2, 3, 4]);
});

test('getRange with CompositeCondition filters combines with AND, OR and NOT', async (t) => {
  const table = await createLevelTable(t);
  const nameIs = (name) => new SingleColumnCondition('name', name, ComparatorType.EQUAL);
  const composite = (operator, ...subConditions) => {
    const combined = new CompositeCondition(operator);
    subConditions.forEach((sub) => combined.addSubCondition(sub));
    return combined;
  };
  assert.deepEqual(await rangeIds(table, composite(LogicalOperator.AND, levelAbove(0, false), composite(LogicalOperator.NOT, nameIs('c')))), [2, 4]);
  assert.deepEqual(await rangeIds(table, composite(LogicalOperator.OR, nameIs('a'), levelAbove(2, false))), [1, 4]);
  assert.deepEqual(await rangeIds(table, composite(LogicalOperator.NOT, levelAbove(1, false))), [1, 2, 5]);
});

test('a filter with latestVersionOnly false passes when any version read matches', async (t) => {
  const table = await createTable(t, 'filter_versions', [['id', 'INTEGER']], { maxVersions: 3 });
  const base = Date.now() - 60_000;
  await putRow(table, [{ id: int(1) }], [{ level: int(5), timestamp: int(base + 1) }, { level: int(0), timestamp: int(base + 2) }]);
  const readAllVersions = (latestVersionOnly) => getRow(table, [{ id: int(1) }], {
    maxVersions: 3,
    columnFilter: new SingleColumnCondition('level', int(1), ComparatorType.GREATER_THAN, false, latestVersionOnly),
  });

  assert.deepEqual(await readAllVersions(true), {}, 'the newest version, 0, fails level > 1');
  assert.deepEqual(versionsOf(await readAllVersions(false)), [['level', 0n, base + 2], ['level', 5n, base + 1]]);
});

test('batchGetRow with a filter returns filtered-out rows as empty', async (t) => {
  const table = await createLevelTable(t);
  const response = await client.batchGetRow({
    tables: [{ tableName: table, primaryKey: [[{ id: int(1) }], [{ id: int(4) }]], columnFilter: levelAbove(1, false) }],
  });
  const [rows] = response.tables;
  assert.deepEqual(rows.map(({ isOk, primaryKey }) => [isOk, primaryKey === null]), [[true, true], [true, false]]);
  assert.deepEqual(valuesOf(rows[1]), { level: 3n, name: 'd' });
});

test('ColumnPaginationFilter returns limit columns after offset, in column name order', async (t) => {
  const table = await createTable(t, 'filter_pagination', [['id', 'INTEGER']]);
  const columns = [{ e: int(5) }, { c: int(3) }, { a: int(1) }, { d: int(4) }, { b: int(2) }];
  await putRow(table, [{ id: int(1) }], columns);
  await putRow(table, [{ id: int(2) }], columns);

  const row = await getRow(table, [{ id: int(1) }], { columnFilter: new ColumnPaginationFilter(2, 1) });
  assert.deepEqual(primaryKeyOf(row), { id: 1n });
  assert.deepEqual(valuesOf(row), { b: 2n, c: 3n });

  const range = await client.getRange({
    tableName: table, direction: Direction.FORWARD,
    inclusiveStartPrimaryKey: [{ id: int(1) }], exclusiveEndPrimaryKey: [{ id: int(3) }],
    columnFilter: new ColumnPaginationFilter(3, 3),
  });
  assert.deepEqual(range.rows.map((r) => [primaryKeyOf(r), valuesOf(r)]), [
    [{ id: 1n }, { d: 4n, e: 5n }],
    [{ id: 2n }, { d: 4n, e: 5n }],
  ]);
});
