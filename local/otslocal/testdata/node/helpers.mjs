// Shared helpers for the otslocal suites: a Tablestore client configured from the
// environment, throwaway tables, and conversions of the SDK's row shapes into plain
// values that node:assert can compare.
//
// Environment:
//   OTSLOCAL_ENDPOINT           required, e.g. http://127.0.0.1:8931
//   OTSLOCAL_INSTANCE           instance name, default "otslocal"
//   OTSLOCAL_ACCESS_KEY_ID      access key id, default "otslocal"
//   OTSLOCAL_ACCESS_KEY_SECRET  access key secret, default "otslocal"

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import TableStore from 'tablestore';

export { TableStore };

const endpoint = process.env.OTSLOCAL_ENDPOINT;
if (!endpoint) {
  throw new Error(
    'OTSLOCAL_ENDPOINT is not set: start a server (otsetl otslocal --listen 127.0.0.1:8931) ' +
      'and run with OTSLOCAL_ENDPOINT=http://127.0.0.1:8931');
}

/**
 * clientFor returns an SDK client of the instance with this name, with the access key of
 * the environment. Retries are off (maxRetries 0) so that a server error reaches the test
 * at once instead of after the SDK's 20 backed-off retries
 * (lib/retry/default_retry_policy.js).
 * @param {string} instancename
 */
export function clientFor(instancename) {
  return new TableStore.Client({
    endpoint,
    instancename,
    accessKeyId: process.env.OTSLOCAL_ACCESS_KEY_ID || 'otslocal',
    secretAccessKey: process.env.OTSLOCAL_ACCESS_KEY_SECRET || 'otslocal',
    maxRetries: 0,
  });
}

/** The SDK client every test uses, of the instance OTSLOCAL_INSTANCE. */
export const client = clientFor(process.env.OTSLOCAL_INSTANCE || 'otslocal');

/**
 * int is a Tablestore INTEGER (int64) value: a TableStore.Long from a JS number, or from
 * a decimal string for values beyond 2^53.
 * @param {number|string} value
 */
export function int(value) {
  return typeof value === 'string' ? TableStore.Long.fromString(value) : TableStore.Long.fromNumber(value);
}

// Int64LE is the SDK's INTEGER type (int64-buffer's Int64LE), which TableStore.Long builds
// and the PlainBuffer reader returns.
const Int64LE = TableStore.Long.fromNumber(0).constructor;

let tableCount = 0;

/**
 * uniqueTableName returns a table name no other test uses, even across processes:
 * prefix_<pid>_<counter>_<random hex>. Table names are [A-Za-z_][A-Za-z0-9_]*.
 * @param {string} prefix
 */
export function uniqueTableName(prefix) {
  tableCount += 1;
  return `${prefix}_${process.pid}_${tableCount}_${randomBytes(3).toString('hex')}`;
}

/**
 * createTableRequest is the SDK's createTable parameters for a table with the given
 * primary key columns ([name, 'INTEGER'|'STRING'|'BINARY'] pairs, in schema order), no
 * reserved throughput and the given options. timeToLive is in seconds (-1: never
 * expire); maxTimeDeviation, in seconds, and allowUpdate are only sent when given.
 * @param {string} tableName
 * @param {Array<[string, string]>} primaryKey
 * @param {{maxVersions?: number, timeToLive?: number, maxTimeDeviation?: number, allowUpdate?: boolean}} [options]
 */
export function createTableRequest(tableName, primaryKey, { maxVersions = 1, timeToLive = -1, maxTimeDeviation, allowUpdate } = {}) {
  return {
    tableMeta: {
      tableName,
      primaryKey: primaryKey.map(([name, type]) => ({ name, type })),
    },
    reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
    tableOptions: { timeToLive, maxVersions, maxTimeDeviation, allowUpdate },
  };
}

/**
 * createTable creates a table with a unique name (see uniqueTableName and
 * createTableRequest) through tableClient (default: client) and deletes it when the test
 * t ends. It returns the name.
 * @param {import('node:test').TestContext} t
 * @param {string} prefix
 * @param {Array<[string, string]>} primaryKey
 * @param {{maxVersions?: number, timeToLive?: number, maxTimeDeviation?: number, allowUpdate?: boolean}} [options]
 * @param {object} [tableClient] a TableStore.Client, e.g. of another instance (clientFor)
 */
export async function createTable(t, prefix, primaryKey, options, tableClient = client) {
  const tableName = uniqueTableName(prefix);
  await tableClient.createTable(createTableRequest(tableName, primaryKey, options));
  t.after(() => tableClient.deleteTable({ tableName }));
  return tableName;
}

/** ignore is the condition with RowExistenceExpectation IGNORE and no column condition. */
export const ignore = new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null);

/**
 * condition builds a write condition: a RowExistenceExpectation name (IGNORE,
 * EXPECT_EXIST, EXPECT_NOT_EXIST) and an optional column condition.
 * @param {'IGNORE'|'EXPECT_EXIST'|'EXPECT_NOT_EXIST'} expectation
 * @param {object} [columnCondition] a TableStore.SingleColumnCondition or CompositeCondition
 */
export function condition(expectation, columnCondition = null) {
  return new TableStore.Condition(TableStore.RowExistenceExpectation[expectation], columnCondition);
}

/**
 * putRow writes a row with the given condition (default IGNORE). attributeColumns is
 * the SDK's list of single-column objects, e.g. [{level: int(2)}, {msg: 'x', timestamp: ms}].
 * @param {string} tableName
 * @param {object[]} primaryKey SDK primary key, e.g. [{id: int(1)}]
 * @param {object[]} attributeColumns
 * @param {object} [rowCondition]
 */
export function putRow(tableName, primaryKey, attributeColumns, rowCondition = ignore) {
  return client.putRow({ tableName, condition: rowCondition, primaryKey, attributeColumns });
}

/**
 * getRow reads a row; params are further getRow parameters (maxVersions, timeRange,
 * columnsToGet, columnFilter). maxVersions defaults to 1, as in the SDK.
 * @param {string} tableName
 * @param {object[]} primaryKey
 * @param {object} [params]
 */
export async function getRow(tableName, primaryKey, params = {}) {
  const response = await client.getRow({ tableName, primaryKey, maxVersions: 1, ...params });
  return response.row;
}

// plain turns a value the SDK decoded into one node:assert compares exactly: INTEGER
// (an int64-buffer Int64LE) becomes a BigInt; double, boolean, string and binary (Buffer)
// stay as they are.
function plain(value) {
  if (value instanceof Int64LE) {
    return BigInt(value.toString());
  }
  return value;
}

/**
 * primaryKeyOf maps a decoded row's primary key to {name: plain value}, in key order.
 * @param {{primaryKey?: Array<{name: string, value: unknown}>}} row
 */
export function primaryKeyOf(row) {
  return Object.fromEntries((row.primaryKey ?? []).map(({ name, value }) => [name, plain(value)]));
}

/**
 * valuesOf maps a decoded row's attribute columns to {name: plain value of the newest
 * version}. Columns arrive sorted by name with versions newest first.
 * @param {{attributes?: Array<{columnName: string, columnValue: unknown}>}} row
 */
export function valuesOf(row) {
  const values = {};
  for (const { columnName, columnValue } of row.attributes ?? []) {
    if (!(columnName in values)) {
      values[columnName] = plain(columnValue);
    }
  }
  return values;
}

/**
 * versionsOf lists every version a decoded row holds, in response order, as
 * [columnName, plain value, timestamp in ms].
 * @param {{attributes?: Array<{columnName: string, columnValue: unknown, timestamp: object}>}} row
 */
export function versionsOf(row) {
  return (row.attributes ?? []).map(({ columnName, columnValue, timestamp }) =>
    [columnName, plain(columnValue), Number(timestamp.toString())]);
}

/**
 * requestKey turns a decoded primary key ([{name, value}], e.g. a getRange
 * nextStartPrimaryKey) back into the SDK's request shape ([{name: value}]).
 * @param {Array<{name: string, value: unknown}>} decoded
 */
export function requestKey(decoded) {
  return decoded.map(({ name, value }) => ({ [name]: value }));
}

/**
 * assertOTSError awaits a call that must fail with a Tablestore error of this HTTP
 * status, error code and, when given, message.
 *
 * The Node SDK cannot map error bodies (lib/client.js extractError calls the undefined
 * TableStore.XML.Parser and falls into its catch): err.code is the numeric HTTP status,
 * and err.message is the raw protobuf Error{code, message} as text, followed by
 * " requestId:...". So the code and message are checked as substrings of err.message.
 * @param {Promise<unknown>} call
 * @param {number} status HTTP status, e.g. 403
 * @param {string} code Tablestore error code, e.g. "OTSConditionCheckFail"
 * @param {string} [message] the service's message, e.g. "Condition check failed."
 */
export async function assertOTSError(call, status, code, message) {
  await assert.rejects(call, (err) => {
    assert.equal(err.code, status, `HTTP status of ${JSON.stringify(err.message)}`);
    assert.ok(err.message.includes(code), `error code ${code} not in ${JSON.stringify(err.message)}`);
    if (message !== undefined) {
      assert.ok(err.message.includes(message), `message ${JSON.stringify(message)} not in ${JSON.stringify(err.message)}`);
    }
    return true;
  });
}
