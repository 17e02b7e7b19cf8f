// The data block types of getRange: the rows come in the type data_block_type_hint asks
// for, PlainBuffer or SimpleRowMatrix, and data_block_type says which.
//
// The Node SDK's protocol has both fields, but its encoder never sets the hint and its
// decoder reads rows as PlainBuffer only. So this file sets the hint on the SDK's own
// GetRangeRequest message (params.dataBlockTypeHint), and decodes a SimpleRowMatrix block
// with readSimpleRowMatrix, written from the Java SDK's parser
// (model/SimpleRowMatrixBlockParser.java), verifying its checksum with the SDK's CRC-8.
// Everything else (signing, HTTP, protobuf) is the SDK's.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import compiledProto from 'tablestore/lib/protocol/tablestore_compiled_proto.js';

import { TableStore, client, createTable, int, primaryKeyOf, putRow, valuesOf } from './helpers.mjs';

const { DataBlockType, GetRangeResponse } = compiledProto.main.proto;

const sdkEncode = TableStore.encoder.encode;
TableStore.encoder.encode = function encode(operation, params) {
  const request = sdkEncode.call(this, operation, params);
  if (operation === 'getRange' && params.dataBlockTypeHint !== undefined) {
    request.dataBlockTypeHint = params.dataBlockTypeHint;
  }
  return request;
};

// getRange answers carry sentDataBlockType: the data_block_type on the wire, undefined
// when absent. A SimpleRowMatrix answer carries matrix instead of rows.
const sdkDecode = TableStore.decoder.decode;
TableStore.decoder.decode = function decode(operation, body) {
  if (operation !== 'getRange') {
    return sdkDecode.call(this, operation, body);
  }
  const raw = GetRangeResponse.decode(body);
  const sentDataBlockType = Object.hasOwn(raw, 'dataBlockType') ? raw.dataBlockType : undefined;
  if (sentDataBlockType === DataBlockType.DBT_SIMPLE_ROW_MATRIX) {
    return { sentDataBlockType, matrix: readSimpleRowMatrix(Buffer.from(raw.rows)) };
  }
  return { ...sdkDecode.call(this, operation, body), sentDataBlockType };
};

/**
 * readSimpleRowMatrix decodes a SimpleRowMatrix block as the Java SDK does, failing on any
 * deviation: api version 0x304d5253, offsets, field names, options (entire primary key
 * flag, then row count), rows of typed values, and the CRC-8 of every byte before the last.
 * Rows come back as {primaryKey: {name: value}, values: {name: value}}, null fields left
 * out, INTEGER as BigInt.
 * @param {Buffer} block
 */
function readSimpleRowMatrix(block) {
  assert.equal(block.readInt32LE(0), 0x304d5253, 'api version');
  const dataOffset = block.readInt32LE(4);
  const optionsOffset = block.readInt32LE(8);
  const pkCount = block.readInt32LE(12);
  const attrCount = block.readInt32LE(16);
  let at = 20;
  const names = [];
  for (let i = 0; i < pkCount + attrCount; i += 1) {
    const length = block.readInt16LE(at);
    names.push(block.toString('utf8', at + 2, at + 2 + length));
    at += 2 + length;
  }
  assert.equal(at, optionsOffset, 'the options follow the field names');
  assert.equal(block[optionsOffset], 10, 'TAG_ENTIRE_PRIMARY_KEYS');
  const entirePrimaryKey = block[optionsOffset + 1];
  assert.ok(entirePrimaryKey === 0 || entirePrimaryKey === 1);
  assert.equal(block[optionsOffset + 2], 3, 'TAG_ROW_COUNT');
  const rowCount = block.readInt32LE(optionsOffset + 3);
  assert.equal(dataOffset, optionsOffset + 7, 'the rows follow the options');
  const footer = block.length - 2;
  assert.equal(block[footer], 1, 'TAG_CHECKSUM');
  assert.equal(block[footer + 1], TableStore.plainBufferCrc8.update(0, block.subarray(0, footer + 1)), 'checksum');

  const rows = [];
  at = dataOffset;
  while (at < footer) {
    assert.equal(block[at], 2, 'TAG_ROW');
    at += 1;
    const row = { primaryKey: {}, values: {} };
    names.forEach((name, field) => {
      const type = block[at];
      at += 1;
      let value;
      switch (type) {
        case 0: value = block.readBigInt64LE(at); at += 8; break;
        case 1: value = block.readDoubleLE(at); at += 8; break;
        case 2: value = block[at] === 1; at += 1; break;
        case 3: case 7: {
          const length = block.readInt32LE(at);
          const bytes = block.subarray(at + 4, at + 4 + length);
          value = type === 3 ? bytes.toString('utf8') : Buffer.from(bytes);
          at += 4 + length;
          break;
        }
        case 6: return; // null: the row has no such column
        default: assert.fail(`unknown value type ${type} in field ${name}`);
      }
      (field < pkCount ? row.primaryKey : row.values)[name] = value;
    });
    rows.push(row);
  }
  assert.equal(at, footer);
  assert.equal(rows.length, rowCount, 'the row count option');
  return {
    primaryKeyNames: names.slice(0, pkCount), attributeNames: names.slice(pkCount), entirePrimaryKey: entirePrimaryKey === 1, rows,
  };
}

// createBlockTable holds three rows: every attribute type, a column with two versions, a
// row with one column.
async function createBlockTable(t) {
  const table = await createTable(t, 'blocks', [['id', 'INTEGER']], { maxVersions: 2 });
  await putRow(table, [{ id: int(1) }], [{ i: int(-7) }, { f: 1.5 }, { b: true }, { s: 'text' }, { bin: Buffer.from([0, 1, 255]) }]);
  await putRow(table, [{ id: int(2) }], [{ s: 'old', timestamp: int(Date.now() - 60000) }, { s: 'new' }]);
  await putRow(table, [{ id: int(3) }], [{ b: false }]);
  return table;
}

function getRange(tableName, params = {}) {
  return client.getRange({
    tableName,
    direction: TableStore.Direction.FORWARD,
    inclusiveStartPrimaryKey: [{ id: TableStore.INF_MIN }],
    exclusiveEndPrimaryKey: [{ id: TableStore.INF_MAX }],
    ...params,
  });
}

const wantRows = [
  { primaryKey: { id: 1n }, values: { b: true, bin: Buffer.from([0, 1, 255]), f: 1.5, i: -7n, s: 'text' } },
  { primaryKey: { id: 2n }, values: { s: 'new' } },
  { primaryKey: { id: 3n }, values: { b: false } },
];

test('getRange answers in PlainBuffer, and says so, by default and when asked', async (t) => {
  const table = await createBlockTable(t);
  for (const params of [{}, { dataBlockTypeHint: DataBlockType.DBT_PLAIN_BUFFER }]) {
    const response = await getRange(table, params);
    assert.equal(response.sentDataBlockType, DataBlockType.DBT_PLAIN_BUFFER, `data_block_type for ${JSON.stringify(params)}`);
    assert.deepEqual(response.rows.map((row) => ({ primaryKey: primaryKeyOf(row), values: valuesOf(row) })), wantRows);
  }
});

test('getRange answers in SimpleRowMatrix when asked: the same rows, one value per column', async (t) => {
  const table = await createBlockTable(t);
  for (const maxVersions of [1, 2]) {
    const response = await getRange(table, { maxVersions, dataBlockTypeHint: DataBlockType.DBT_SIMPLE_ROW_MATRIX });
    assert.equal(response.sentDataBlockType, DataBlockType.DBT_SIMPLE_ROW_MATRIX);
    const { primaryKeyNames, attributeNames, entirePrimaryKey, rows } = response.matrix;
    assert.deepEqual(primaryKeyNames, ['id']);
    assert.deepEqual(attributeNames, ['b', 'bin', 'f', 'i', 's'], 'every column of the page, by name');
    assert.equal(entirePrimaryKey, true);
    assert.deepEqual(rows, wantRows, `maxVersions ${maxVersions}: the newest version of each column`);
  }
});

test('an empty SimpleRowMatrix page is a block with no row', async (t) => {
  const table = await createTable(t, 'blocks_empty', [['id', 'INTEGER']]);
  const response = await getRange(table, { dataBlockTypeHint: DataBlockType.DBT_SIMPLE_ROW_MATRIX });
  assert.equal(response.sentDataBlockType, DataBlockType.DBT_SIMPLE_ROW_MATRIX);
  assert.deepEqual(response.matrix, { primaryKeyNames: ['id'], attributeNames: [], entirePrimaryKey: true, rows: [] });
});
