#!/usr/bin/python3
"""confluent_py.py - Debian's python3-confluent-kafka (1.7.0) against
`evl registry serve`: a client nobody here wrote, speaking Confluent Schema
Registry's REST API, and Confluent's own serializers making and reading the
wire format. Run by tests/registry/test_clients.c.

    confluent_py.py scenario URL WORKDIR
        the registry API (register, same schema -> same id, compatible
        evolution and 409 refusals in all three formats, lookup, get by id,
        versions, config, test_compatibility, delete) and records of
        data/records.json encoded with the Avro, JSON Schema and Protobuf
        serializers, decoded back, and written as hex lines to
        WORKDIR/py-{avro,json,protobuf}.hex
    confluent_py.py encode URL WORKDIR
        only the records: serializers, round trip, the .hex files
    confluent_py.py decode URL FORMAT HEXFILE WORKDIR
        decode the hex lines of HEXFILE (written by another client) with
        Confluent's deserializer for FORMAT (avro|json|protobuf), print each
        as a JSON line, and compare them with data/records.json
    confluent_py.py register URL SUBJECT SCHEMAFILE [TYPE]
        register one schema, print its id
    confluent_py.py versions URL SUBJECT
        print the subject's versions as a JSON list

Avro: confluent_kafka.schema_registry.avro's AvroSerializer needs fastavro,
which Debian does not ship, so Avro records go through the same package's
older confluent_kafka.avro module (CachedSchemaRegistryClient +
MessageSerializer, built on python3-avro); the registry calls use
confluent_kafka.schema_registry.SchemaRegistryClient. Protobuf: the _pb2
module is generated from data/user.proto with protoc into WORKDIR.

Exits 1 with a message on stderr at the first mismatch.
"""
import binascii
import importlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.error import SchemaRegistryError  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402


def fail(msg):
    sys.stderr.write("confluent_py: FAIL: %s\n" % msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def read(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read()


def records(fmt):
    return json.loads(read("records.json"))[fmt]


def expect_409(what, fn):
    """fn must be refused as Confluent refuses an incompatible schema."""
    try:
        fn()
    except SchemaRegistryError as e:
        check(e.http_status_code == 409 and e.error_code == 409,
              "%s: want HTTP 409 / error_code 409, got %s / %s (%s)"
              % (what, e.http_status_code, e.error_code, e.error_message))
        return
    fail("%s: accepted, want a 409 refusal" % what)


def expect_error(what, status, code, fn):
    try:
        fn()
    except SchemaRegistryError as e:
        check(e.http_status_code == status and e.error_code == code,
              "%s: want HTTP %d / error_code %d, got %s / %s (%s)"
              % (what, status, code, e.http_status_code, e.error_code, e.error_message))
        return
    fail("%s: succeeded, want HTTP %d" % (what, status))


def proto_module(workdir):
    """evltest.User from data/user.proto, compiled by protoc at run time."""
    out = os.path.join(workdir, "pyproto")
    os.makedirs(out, exist_ok=True)
    if not os.path.exists(os.path.join(out, "user_pb2.py")):
        subprocess.run(["protoc", "-I", DATA, "--python_out", out, "user.proto"], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("user_pb2")


def proto_to_dict(msg):
    """Protobuf's JSON mapping (int64 as strings), as records.json has it."""
    from google.protobuf.json_format import MessageToDict
    return MessageToDict(msg, preserving_proto_field_name=True)


def dict_to_proto(pb, d):
    from google.protobuf.json_format import ParseDict
    return ParseDict(d, pb.User())


def write_hex(path, blobs):
    with open(path, "w") as f:
        for b in blobs:
            f.write(binascii.hexlify(b).decode() + "\n")


def read_hex(path):
    with open(path) as f:
        return [binascii.unhexlify(line.strip()) for line in f if line.strip()]


def avro_codec(url):
    """The old confluent_kafka.avro module: python3-avro, no fastavro."""
    from confluent_kafka.avro import CachedSchemaRegistryClient, MessageSerializer
    return MessageSerializer(CachedSchemaRegistryClient({"url": url}))


# ---- scenario -----------------------------------------------------------------

def registry_api(url):
    sr = SchemaRegistryClient({"url": url})
    subj = "py-avro-value"
    v1, v2, bad = read("user_v1.avsc"), read("user_v2.avsc"), read("user_bad.avsc")

    check(subj not in sr.get_subjects(), "fresh registry already has " + subj)
    check(sr.get_compatibility() == "BACKWARD", "global compatibility is not BACKWARD")
    id1 = sr.register_schema(subj, Schema(v1, "AVRO"))
    check(isinstance(id1, int) and id1 > 0, "register: bad id %r" % id1)
    # A new client (no cache): the server itself must dedupe, also when the
    # text differs only in whitespace (Confluent compares canonical forms).
    sr2 = SchemaRegistryClient({"url": url})
    check(sr2.register_schema(subj, Schema(v1, "AVRO")) == id1, "same schema, other id")
    squeezed = json.dumps(json.loads(v1), separators=(",", ":"))
    check(SchemaRegistryClient({"url": url}).register_schema(subj, Schema(squeezed, "AVRO")) == id1,
          "same schema without whitespace got another id")
    check(sr.get_versions(subj) == [1], "versions after re-registering: %r" % sr.get_versions(subj))

    sr.set_compatibility(subj, "BACKWARD")
    check(sr.get_compatibility(subj) == "BACKWARD", "subject compatibility not BACKWARD")
    check(sr.test_compatibility(subj, Schema(v2, "AVRO")) is True, "v2 (field with default) not compatible")
    check(sr.test_compatibility(subj, Schema(bad, "AVRO")) is False, "bad (field without default) compatible")
    check(sr.test_compatibility(subj, Schema(v2, "AVRO"), version=1) is True, "v2 vs version 1")

    id2 = sr.register_schema(subj, Schema(v2, "AVRO"))
    check(id2 != id1, "evolved schema got the old id")
    # What confluent_kafka.avro sends for v2: python3-avro's text, which
    # spells out the nested enum's namespace (the enclosing one). The same
    # schema: Confluent's identity is Java's Schema.toString, which drops a
    # namespace equal to the enclosing one.
    import avro.schema
    pytext = str(avro.schema.parse(v2))
    got = SchemaRegistryClient({"url": url}).register_schema(subj, Schema(pytext, "AVRO"))
    check(got == id2, "v2 as python3-avro writes it (%s) got id %d, want %d (the id of the same "
          "schema without the redundant \"namespace\" of the nested enum); versions now %r"
          % (pytext, got, id2, sr.get_versions(subj)))
    latest = sr.get_latest_version(subj)
    check((latest.version, latest.schema_id, latest.subject) == (2, id2, subj),
          "latest: %r" % ((latest.version, latest.schema_id, latest.subject),))
    check(json.loads(latest.schema.schema_str) == json.loads(v2), "latest schema text differs")
    expect_409("incompatible Avro", lambda: sr.register_schema(subj, Schema(bad, "AVRO")))
    check(sr.get_versions(subj) == [1, 2], "a refused schema left a version")

    found = sr2.lookup_schema(subj, Schema(v1, "AVRO"))
    check((found.schema_id, found.version, found.subject) == (id1, 1, subj), "lookup v1")
    expect_error("lookup of an unregistered schema", 404, 40403,
                 lambda: sr2.lookup_schema(subj, Schema(bad, "AVRO")))
    got = SchemaRegistryClient({"url": url}).get_schema(id1)
    check(got.schema_type == "AVRO" and json.loads(got.schema_str) == json.loads(v1), "get_schema(id1)")
    v = sr.get_version(subj, 1)
    check(v.schema_id == id1 and v.version == 1, "get_version(1)")
    expect_error("get_schema(unknown id)", 404, 40403,
                 lambda: SchemaRegistryClient({"url": url}).get_schema(99999))
    expect_error("unknown subject", 404, 40401, lambda: sr.get_latest_version("py-nope-value"))

    # NONE lets anything in; then back to BACKWARD
    check(sr.set_compatibility(subj, "NONE") == {"compatibility": "NONE"}, "set NONE answer")
    check(sr.get_compatibility(subj) == "NONE", "subject compatibility not NONE")
    check(sr.test_compatibility(subj, Schema(bad, "AVRO")) is True, "NONE still refuses")
    sr.set_compatibility(subj, "BACKWARD")

    # delete a subject: soft, then gone from the list; versions answered
    # (a schema has one id in every subject)
    tmp = "py-tmp-value"
    check(sr.register_schema(tmp, Schema(v1, "AVRO")) == id1, "v1 under another subject: another id")
    check(tmp in sr.get_subjects(), "registered subject not listed")
    check(sr.delete_subject(tmp) == [1], "delete_subject answer")
    check(tmp not in sr.get_subjects(), "deleted subject still listed")
    expect_error("deleted subject", 404, 40401, lambda: sr.get_latest_version(tmp))
    # permanent (1.7.0 sends the soft delete, then ?permanent=true)
    tmp2 = "py-tmp2-value"
    SchemaRegistryClient({"url": url}).register_schema(tmp2, Schema(v2, "AVRO"))
    check(sr.delete_subject(tmp2, permanent=True) == [1], "permanent delete_subject answer")
    again = SchemaRegistryClient({"url": url})
    check(again.register_schema(tmp2, Schema(v2, "AVRO")) == id2, "re-registered after a hard delete")
    check(again.get_versions(tmp2) == [1], "versions after a hard delete and re-register")
    return id2


def avro_records(url, workdir, id2=None):
    """id2: the id the scenario got for user_v2.avsc (None: records only)."""
    import avro.schema
    ms = avro_codec(url)
    schema = avro.schema.parse(read("user_v2.avsc"))
    blobs = [ms.encode_record_with_schema("py-avro", schema, r) for r in records("avro")]
    if id2 is not None:
        for b in blobs:
            check(b[0] == 0 and int.from_bytes(b[1:5], "big") == id2,
                  "Avro record not framed with id %d" % id2)
    check([avro_codec(url).decode_message(b) for b in blobs] == records("avro"), "Avro round trip")
    write_hex(os.path.join(workdir, "py-avro.hex"), blobs)


def json_records(url, workdir, api):
    sr = SchemaRegistryClient({"url": url})
    ctx = SerializationContext("py-json", MessageField.VALUE)
    ser = JSONSerializer(read("user.schema.json"), sr)
    blobs = [ser(r, ctx) for r in records("json")]
    des = JSONDeserializer(read("user.schema.json"))
    check([des(b, ctx) for b in blobs] == records("json"), "JSON round trip")
    write_hex(os.path.join(workdir, "py-json.hex"), blobs)
    if not api:
        return
    latest = sr.get_latest_version("py-json-value")
    check(latest.schema.schema_type == "JSON", "JSON subject has type %s" % latest.schema.schema_type)
    check(json.loads(latest.schema.schema_str) == json.loads(read("user.schema.json")), "JSON schema text")
    check(all(int.from_bytes(b[1:5], "big") == latest.schema_id for b in blobs), "JSON record id")
    again = JSONSerializer(read("user.schema.json"), SchemaRegistryClient({"url": url}))
    check(again(records("json")[0], ctx) == blobs[0], "second JSON serializer: other bytes")
    expect_409("incompatible JSON Schema", lambda: sr.register_schema(
        "py-json-value", Schema(read("user_bad.schema.json"), "JSON")))
    # compatible: "name" no longer required
    v2 = sr.register_schema("py-json-value", Schema(read("user_v2.schema.json"), "JSON"))
    check(v2 != latest.schema_id and sr.get_versions("py-json-value") == [1, 2], "JSON evolution")


def protobuf_records(url, workdir, api):
    pb = proto_module(workdir)
    sr = SchemaRegistryClient({"url": url})
    ctx = SerializationContext("py-proto", MessageField.VALUE)
    # 1.7.0 registers the schema as a base64 FileDescriptorProto
    ser = ProtobufSerializer(pb.User, sr)
    blobs = [ser(dict_to_proto(pb, r), ctx) for r in records("protobuf")]
    des = ProtobufDeserializer(pb.User)
    check([proto_to_dict(des(b, ctx)) for b in blobs] == records("protobuf"), "Protobuf round trip")
    write_hex(os.path.join(workdir, "py-protobuf.hex"), blobs)
    if not api:
        return
    latest = sr.get_latest_version("py-proto-value")
    check(latest.schema.schema_type == "PROTOBUF", "Protobuf subject type %s" % latest.schema.schema_type)
    check("message User" in latest.schema.schema_str,
          "the registry does not answer the descriptor as .proto text: %r" % latest.schema.schema_str[:200])
    check(all(b[5] == 0 and int.from_bytes(b[1:5], "big") == latest.schema_id for b in blobs),
          "Protobuf framing (id, message index [0])")
    again = ProtobufSerializer(pb.User, SchemaRegistryClient({"url": url}))
    check(again(dict_to_proto(pb, records("protobuf")[0]), ctx) == blobs[0], "second Protobuf serializer: other id")
    # the same schema as .proto text is the same schema
    text_id = SchemaRegistryClient({"url": url}).register_schema(
        "py-proto-value", Schema(read("user.proto"), "PROTOBUF"))
    check(text_id == latest.schema_id, ".proto text of the registered descriptor got id %d, want %d"
          % (text_id, latest.schema_id))
    expect_409("incompatible Protobuf", lambda: sr.register_schema(
        "py-proto-value", Schema(read("user_bad.proto"), "PROTOBUF")))
    # compatible: a field added
    v2 = sr.register_schema("py-proto-value", Schema(read("user_v2.proto"), "PROTOBUF"))
    check(v2 != latest.schema_id and sr.get_versions("py-proto-value") == [1, 2], "Protobuf evolution")


def scenario(url, workdir):
    id2 = registry_api(url)
    avro_records(url, workdir, id2)
    json_records(url, workdir, True)
    protobuf_records(url, workdir, True)
    print("python scenario ok")


def encode(url, workdir):
    avro_records(url, workdir)
    json_records(url, workdir, False)
    protobuf_records(url, workdir, False)


# ---- decode what others wrote -------------------------------------------------

def decode(url, fmt, hexfile, workdir):
    blobs = read_hex(hexfile)
    ctx = SerializationContext("cross", MessageField.VALUE)
    if fmt == "avro":
        ms = avro_codec(url)
        got = [ms.decode_message(b) for b in blobs]
    elif fmt == "json":
        des = JSONDeserializer(read("user.schema.json"))
        got = [des(b, ctx) for b in blobs]
    elif fmt == "protobuf":
        des = ProtobufDeserializer(proto_module(workdir).User)
        got = [proto_to_dict(des(b, ctx)) for b in blobs]
    else:
        fail("unknown format " + fmt)
    for g in got:
        print(json.dumps(g, sort_keys=True))
    check(got == records(fmt), "%s records of %s decode to %r, want %r" % (fmt, hexfile, got, records(fmt)))


def main(argv):
    if len(argv) == 4 and argv[1] == "scenario":
        scenario(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "encode":
        encode(argv[2], argv[3])
    elif len(argv) == 6 and argv[1] == "decode":
        decode(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) in (5, 6) and argv[1] == "register":
        kind = argv[5] if len(argv) == 6 else "AVRO"
        with open(argv[4], encoding="utf-8") as f:
            print(SchemaRegistryClient({"url": argv[2]}).register_schema(argv[3], Schema(f.read(), kind)))
    elif len(argv) == 4 and argv[1] == "versions":
        print(json.dumps(SchemaRegistryClient({"url": argv[2]}).get_versions(argv[3])))
    else:
        fail("usage: see the docstring")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except SystemExit:
        raise
    except BaseException as e:  # a client exception is a failure with its story
        import traceback
        traceback.print_exc()
        fail("%s: %s" % (type(e).__name__, e))
