#!/usr/bin/env node
/*
 * kafkajs_registry.js - npm's @kafkajs/confluent-schema-registry (4.x, with
 * avsc, ajv and protobufjs) against `evl registry serve`: a second client
 * from another ecosystem. Run by tests/registry/test_clients.c, which
 * installs the pinned package with `npm ci` (package-lock.json here).
 *
 *   node kafkajs_registry.js scenario URL WORKDIR
 *       register (same schema -> same id), compatible evolutions and 409
 *       refusals in Avro, JSON Schema and Protobuf, getLatestSchemaId, getRegistryId,
 *       getRegistryIdBySchema, getSchema; the records of data/records.json
 *       encoded, decoded back, and written as hex lines to
 *       WORKDIR/js-{avro,json,protobuf}.hex
 *   node kafkajs_registry.js encode URL WORKDIR
 *       only the records: register, encode, round trip, the .hex files
 *   node kafkajs_registry.js decode URL FORMAT HEXFILE
 *       decode another client's records, print them as JSON lines, compare
 *       them with data/records.json
 *
 * Protobuf: this library writes magic byte + id + message, without the
 * message-index array that Confluent's wire format puts before the message
 * (kafkajs/confluent-schema-registry issue #152; its decoder skips leading
 * zero bytes instead). The files written for other clients therefore get
 * the index of the first message, a single 0x00, inserted after the
 * header, which is what Confluent's serializers write; what the library
 * itself produced is decoded by the library first.
 *
 * Exits 1 with a message on stderr at the first mismatch.
 */
'use strict'
const fs = require('fs')
const path = require('path')
const util = require('util')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const DATA = path.join(__dirname, 'data')
const read = name => fs.readFileSync(path.join(DATA, name), 'utf8')
const records = fmt => JSON.parse(read('records.json'))[fmt]

function fail(msg) {
  process.stderr.write(`kafkajs_registry: FAIL: ${msg}\n`)
  process.exit(1)
}
function check(cond, msg) {
  if (!cond) fail(msg)
}

// A decoded value as plain JSON data (avsc records, protobufjs messages).
function plain(fmt, v) {
  if (fmt === 'protobuf') v = v.$type.toObject(v, { longs: String, enums: String }) // JSON mapping
  return JSON.parse(JSON.stringify(v))
}

const registry = url => new SchemaRegistry({ host: url, retry: { retries: 0 } })

async function expect409(what, fn) {
  try {
    await fn()
  } catch (e) {
    check(e.status === 409, `${what}: want HTTP 409, got ${e.status} (${e.name}: ${e.message})`)
    return
  }
  fail(`${what}: accepted, want a 409 refusal`)
}

const hex = bufs => bufs.map(b => b.toString('hex') + '\n').join('')
const unhex = file => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(h => Buffer.from(h, 'hex'))

// Encode the records of fmt with schema id, decode them back with a fresh
// client (which fetches the schema by id), write them for the others.
async function records_rt(sr, url, fmt, id, prepare = r => r) {
  const bufs = []
  for (const r of records(fmt)) bufs.push(await sr.encode(id, prepare(r)))
  const dec = registry(url)
  for (let i = 0; i < bufs.length; i++)
    check(util.isDeepStrictEqual(plain(fmt, await dec.decode(bufs[i])), records(fmt)[i]), `${fmt} round trip`)
  return bufs
}

// api: the registry checks too (scenario); else only the records (encode).
async function avro(url, workdir, api) {
  const sr = registry(url)
  const subject = 'js-avro-value'
  const s = name => ({ type: SchemaType.AVRO, schema: read(name) })
  if (api) {
    const { id: id1 } = await sr.register(s('user_v1.avsc'), { subject })
    check(Number.isInteger(id1) && id1 > 0, `register: bad id ${id1}`)
    const again = await registry(url).register(s('user_v1.avsc'), { subject })
    check(again.id === id1, `same schema, id ${again.id} != ${id1}`)
    const { id: id2 } = await sr.register(s('user_v2.avsc'), { subject })
    check(id2 !== id1, 'evolved schema got the old id')
    check((await sr.getLatestSchemaId(subject)) === id2, 'getLatestSchemaId')
    check((await sr.getRegistryId(subject, 1)) === id1, 'getRegistryId(1)')
    check((await sr.getRegistryId(subject, 'latest')) === id2, 'getRegistryId(latest)')
    check((await sr.getRegistryIdBySchema(subject, s('user_v1.avsc'))) === id1, 'getRegistryIdBySchema')
    await expect409('incompatible Avro', () => sr.register(s('user_bad.avsc'), { subject }))
    check((await sr.getLatestSchemaId(subject)) === id2, 'a refused schema became the latest')
    // a fresh client fetches the schema by id from the server
    const fetched = await registry(url).getSchema(id1)
    check(fetched.name === 'evltest.User' && fetched.fields.length === 2, 'getSchema(id1)')
  }
  const { id } = await sr.register(s('user_v2.avsc'), { subject })
  const bufs = await records_rt(sr, url, 'avro', id)
  fs.writeFileSync(path.join(workdir, 'js-avro.hex'), hex(bufs))
}

async function json(url, workdir, api) {
  const sr = registry(url)
  const subject = 'js-json-value'
  const schema = { type: SchemaType.JSON, schema: read('user.schema.json') }
  const { id } = await sr.register(schema, { subject })
  if (api) {
    check((await registry(url).register(schema, { subject })).id === id, 'JSON: same schema, other id')
    await expect409('incompatible JSON Schema', () =>
      sr.register({ type: SchemaType.JSON, schema: read('user_bad.schema.json') }, { subject }))
    const v2 = await sr.register({ type: SchemaType.JSON, schema: read('user_v2.schema.json') }, { subject })
    check(v2.id !== id && (await sr.getLatestSchemaId(subject)) === v2.id, 'JSON: compatible evolution')
  }
  const bufs = await records_rt(sr, url, 'json', id)
  fs.writeFileSync(path.join(workdir, 'js-json.hex'), hex(bufs))
}

async function protobuf(url, workdir, api) {
  const sr = registry(url)
  const subject = 'js-proto-value'
  const schema = { type: SchemaType.PROTOBUF, schema: read('user.proto') }
  const { id } = await sr.register(schema, { subject })
  if (api) {
    check((await registry(url).register(schema, { subject })).id === id, 'Protobuf: same schema, other id')
    await expect409('incompatible Protobuf', () =>
      sr.register({ type: SchemaType.PROTOBUF, schema: read('user_bad.proto') }, { subject }))
    const v2 = await sr.register({ type: SchemaType.PROTOBUF, schema: read('user_v2.proto') }, { subject })
    check(v2.id !== id && (await sr.getLatestSchemaId(subject)) === v2.id, 'Protobuf: compatible evolution')
  }
  // records.json has the JSON mapping (int64 as strings, enum names): the
  // library's encode wants protobufjs values. The fresh decoder parses the
  // .proto text the server gives back.
  const type = (await sr.getSchema(id)).message
  const bufs = await records_rt(sr, url, 'protobuf', id, r => type.fromObject(r))
  // Confluent's framing for the others: message index [0] after the header
  const framed = bufs.map(b => Buffer.concat([b.subarray(0, 5), Buffer.from([0]), b.subarray(5)]))
  fs.writeFileSync(path.join(workdir, 'js-protobuf.hex'), hex(framed))
}

async function decode(url, fmt, file) {
  const sr = registry(url)
  const got = []
  for (const b of unhex(file)) got.push(plain(fmt, await sr.decode(b)))
  for (const g of got) console.log(JSON.stringify(g))
  check(util.isDeepStrictEqual(got, records(fmt)),
    `${fmt} records of ${file} decode to ${JSON.stringify(got)}, want ${JSON.stringify(records(fmt))}`)
}

async function main(argv) {
  if (argv.length === 3 && (argv[0] === 'scenario' || argv[0] === 'encode')) {
    const api = argv[0] === 'scenario'
    await avro(argv[1], argv[2], api)
    await json(argv[1], argv[2], api)
    await protobuf(argv[1], argv[2], api)
    console.log(`kafkajs ${argv[0]} ok`)
  } else if (argv.length === 4 && argv[0] === 'decode') {
    await decode(argv[1], argv[2], argv[3])
  } else {
    fail('usage: see the comment at the top')
  }
}

main(process.argv.slice(2)).catch(e => fail(`${e.name}: ${e.message}${e.url ? ` (${e.url})` : ''}\n${e.stack}`))
