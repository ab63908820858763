#!/usr/bin/env python3
"""Checks one report of `zvon report ... --format csv|json` against its documented structure.

Usage: report_check.py SCHEMA REPORT CSV_FILE JSON_FILE

- The JSON is validated against SCHEMA (tests/e2e/report.schema.json, the structure the
  README documents) with a small validator for the JSON Schema subset the schema uses (and
  with the `jsonschema` package too when it is installed).
- The CSV is parsed with Python's csv module (strict): RFC 4180 line ends, a header of the
  documented columns in their order, and every cell the same value as in the JSON.

Prints `ok REPORT ROWS` and exits 0, or prints what is wrong and exits 1.
"""

import csv
import io
import json
import re
import sys


def fail(msg):
    print(msg)
    sys.exit(1)


def resolve(root, schema):
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            fail(f"unsupported $ref {ref}")
        node = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
}


def validate(root, schema, value, path="$"):
    schema = resolve(root, schema)
    errors = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](value) for t in types):
            return [f"{path}: {value!r} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} is not {schema['const']!r}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                errors.append(f"{path}: missing {k}")
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                errors += validate(root, props[k], v, f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected key {k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(root, schema["additionalProperties"], v, f"{path}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += validate(root, schema["items"], v, f"{path}[{i}]")
    for sub in schema.get("allOf", []):
        errors += validate(root, sub, value, path)
    if "if" in schema and not validate(root, schema["if"], value, path):
        errors += validate(root, schema.get("then", {}), value, path)
    return errors


def csv_to_json(root, schema, text):
    """The JSON value a CSV cell stands for, given the column's schema."""
    schema = resolve(root, schema)
    types = schema.get("type", ["string"])
    types = types if isinstance(types, list) else [types]
    if "enum" in schema:
        return None if text == "" and None in schema["enum"] else text
    if text == "" and "null" in types:
        return None
    if "object" in types:
        out = {}
        for kv in filter(None, text.split(";")):
            k, _, v = kv.rpartition("=")
            out[k] = int(v)
        return out
    if "integer" in types:
        return int(text)
    if "number" in types:
        return float(text)
    return text


def main():
    schema_file, report, csv_file, json_file = sys.argv[1:5]
    root = json.load(open(schema_file))
    raw = open(json_file, encoding="utf-8").read()
    doc = json.loads(raw, object_pairs_hook=lambda pairs: dict(pairs))
    errors = validate(root, root, doc)
    try:
        import jsonschema  # optional second opinion

        jsonschema.validate(doc, root)
    except ImportError:
        pass
    except jsonschema.ValidationError as e:
        errors.append(f"jsonschema: {e.message}")
    if errors:
        fail("\n".join(errors[:20]))
    if doc["report"] != report:
        fail(f"report is {doc['report']!r}, not {report!r}")
    row_schema = root["$defs"][f"{report}_row"]
    columns = row_schema["required"]
    for i, row in enumerate(doc["rows"]):
        if list(row) != columns:
            fail(f"rows[{i}]: keys {list(row)} are not the documented columns in order")

    data = open(csv_file, "rb").read().decode("utf-8")
    lines = data.split("\r\n")
    if lines[-1] != "":
        fail("the CSV does not end with CRLF")
    rows = list(csv.reader(io.StringIO(data, newline=""), strict=True))
    if not rows or rows[0] != columns:
        fail(f"CSV header {rows[:1]} is not {columns}")
    body = rows[1:]
    if len(body) != len(doc["rows"]):
        fail(f"CSV has {len(body)} rows, JSON {len(doc['rows'])}")
    for i, (c, j) in enumerate(zip(body, doc["rows"])):
        if len(c) != len(columns):
            fail(f"CSV row {i + 1} has {len(c)} fields")
        for col, text in zip(columns, c):
            want = j[col]
            got = csv_to_json(root, row_schema["properties"][col], text)
            same = got == want or (
                isinstance(got, float) and isinstance(want, (int, float)) and got == float(want)
            )
            if not same:
                fail(f"row {i + 1} {col}: CSV {text!r} is not JSON {want!r}")
    print(f"ok {report} {len(body)}")


main()
