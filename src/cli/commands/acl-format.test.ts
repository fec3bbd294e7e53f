import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DecodeError,
  decodeAclPolicy,
  decodeAclPolicyListEntry,
  decodeAclToken,
  decodeAclTokenListEntry,
  goTimeRfc3339,
  goTimeString,
  parseGoTime,
  parseJson,
} from "../../client/index.js";
import { aclFormat, formatPolicy, formatPolicyList, formatToken, formatTokenList } from "./acl-format.js";

/**
 * hashicorp/consul command/acl/token/testdata/FormatToken/complex.json.golden: Go's json.MarshalIndent of the
 * "complex" api.ACLToken of formatter_test.go. Decoding it and formatting it again must give the same bytes.
 */
const COMPLEX_TOKEN_JSON = `{
    "CreateIndex": 5,
    "ModifyIndex": 10,
    "AccessorID": "fbd2447f-7479-4329-ad13-b021d74f86ba",
    "SecretID": "869c6e91-4de9-4dab-b56e-87548435f9c6",
    "Description": "test token",
    "Policies": [
        {
            "ID": "beb04680-815b-4d7c-9e33-3d707c24672c",
            "Name": "hobbiton"
        },
        {
            "ID": "18788457-584c-4812-80d3-23d403148a90",
            "Name": "bywater"
        }
    ],
    "Roles": [
        {
            "ID": "3b0a78fe-b9c3-40de-b8ea-7d4d6674b366",
            "Name": "shire"
        },
        {
            "ID": "6c9d1e1d-34bc-4d55-80f3-add0890ad791",
            "Name": "west-farthing"
        }
    ],
    "ServiceIdentities": [
        {
            "ServiceName": "gardener",
            "Datacenters": [
                "middleearth-northwest"
            ]
        }
    ],
    "NodeIdentities": [
        {
            "NodeName": "bagend",
            "Datacenter": "middleearth-northwest"
        }
    ],
    "Local": false,
    "AuthMethod": "bar",
    "ExpirationTime": "2020-05-22T19:52:31Z",
    "CreateTime": "2020-05-22T18:52:31Z",
    "Hash": "YWJjZGVmZ2g=",
    "Namespace": "foo",
    "AuthMethodNamespace": "baz"
}`;

/** The same token with the templated policies of the newer golden (complex.pretty-meta.golden). */
const TEMPLATED = `[
  {"TemplateName": "builtin/service", "TemplateVariables": {"Name": "web"},
   "Datacenters": ["middleearth-northwest", "somewhere-east"]},
  {"TemplateName": "builtin/node", "TemplateVariables": {"Name": "api"}}
]`;

/** FormatToken/complex.pretty-meta.golden of Consul's CE formatter (the releases without a token Name line). */
const COMPLEX_PRETTY_META = `AccessorID:       fbd2447f-7479-4329-ad13-b021d74f86ba
SecretID:         869c6e91-4de9-4dab-b56e-87548435f9c6
Namespace:        foo
Description:      test token
Local:            false
Auth Method:      bar (Namespace: baz)
Create Time:      2020-05-22 18:52:31 +0000 UTC
Expiration Time:  2020-05-22 19:52:31 +0000 UTC
Hash:             6162636465666768
Create Index:     5
Modify Index:     10
Policies:
   beb04680-815b-4d7c-9e33-3d707c24672c - hobbiton
   18788457-584c-4812-80d3-23d403148a90 - bywater
Roles:
   3b0a78fe-b9c3-40de-b8ea-7d4d6674b366 - shire
   6c9d1e1d-34bc-4d55-80f3-add0890ad791 - west-farthing
Service Identities:
   gardener (Datacenters: middleearth-northwest)
Node Identities:
   bagend (Datacenter: middleearth-northwest)
Templated Policies:
   builtin/service
      Name: web
      Datacenters: middleearth-northwest, somewhere-east
   builtin/node
      Name: api
      Datacenters: all
`;

const BASIC_TOKEN = {
  AccessorID: "fbd2447f-7479-4329-ad13-b021d74f86ba",
  SecretID: "869c6e91-4de9-4dab-b56e-87548435f9c6",
  Description: "test token",
  Local: false,
  CreateTime: "2020-05-22T18:52:31Z",
  Hash: "YWJjZGVmZ2g=",
  CreateIndex: 42,
  ModifyIndex: 100,
};

/** FormatToken/basic.pretty.golden and basic.pretty-meta.golden. */
const BASIC_PRETTY = `AccessorID:       fbd2447f-7479-4329-ad13-b021d74f86ba
SecretID:         869c6e91-4de9-4dab-b56e-87548435f9c6
Description:      test token
Local:            false
Create Time:      2020-05-22 18:52:31 +0000 UTC
`;
const BASIC_META = "Hash:             6162636465666768\nCreate Index:     42\nModify Index:     100\n";

const token = (json: string) => decodeAclToken(parseJson(json));

describe("acl token formatter", () => {
  it("prints Consul's pretty golden, with -meta, identities and templated policies", () => {
    const withTemplated = JSON.stringify({
      ...JSON.parse(COMPLEX_TOKEN_JSON),
      TemplatedPolicies: JSON.parse(TEMPLATED),
    });
    assert.equal(formatToken(token(withTemplated), "pretty", true), COMPLEX_PRETTY_META);
    assert.equal(formatToken(token(JSON.stringify(BASIC_TOKEN)), "pretty", false), BASIC_PRETTY);
    const [head, tail] = [BASIC_PRETTY, BASIC_META];
    assert.equal(formatToken(token(JSON.stringify(BASIC_TOKEN)), "pretty", true), head + tail);
  });

  it("re-encodes a token as Go's MarshalIndent does: the golden bytes, whatever order the server used", () => {
    assert.equal(formatToken(token(COMPLEX_TOKEN_JSON), "json", false), COMPLEX_TOKEN_JSON);
    const shuffled = JSON.stringify(
      Object.fromEntries(Object.entries(JSON.parse(COMPLEX_TOKEN_JSON)).reverse()),
    );
    assert.equal(formatToken(token(shuffled), "json", false), COMPLEX_TOKEN_JSON);
  });

  it("gives missing fields Go's zero values and keeps uint64 indexes exact", () => {
    const t = token(`{"AccessorID":"a","CreateIndex":18446744073709551615}`);
    assert.equal(
      formatToken(t, "pretty", true),
      "AccessorID:       a\nSecretID:         \nDescription:      \nLocal:            false\n" +
        "Create Time:      0001-01-01 00:00:00 +0000 UTC\nHash:             \n" +
        "Create Index:     18446744073709551615\nModify Index:     0\n",
    );
    assert.equal(
      formatToken(t, "json", false),
      '{\n    "CreateIndex": 18446744073709551615,\n    "ModifyIndex": 0,\n    "AccessorID": "a",\n' +
        '    "SecretID": "",\n    "Description": "",\n    "Local": false,\n' +
        '    "CreateTime": "0001-01-01T00:00:00Z"\n}',
    );
  });

  it("refuses a token whose fields have the wrong JSON types, as Go's decoder does", () => {
    assert.throws(() => token(`{"Local":"yes"}`), DecodeError);
    assert.throws(() => token(`{"CreateTime":"yesterday"}`), DecodeError);
    assert.throws(() => token(`{"Policies":{"ID":"x"}}`), DecodeError);
    assert.throws(() => token(`{"CreateIndex":-1}`), DecodeError);
    assert.throws(() => token(`[]`), DecodeError);
  });

  it("lists tokens separated by a blank line, and as a JSON array with Hash always present", () => {
    const entries = [
      decodeAclTokenListEntry(parseJson(JSON.stringify(BASIC_TOKEN))),
      decodeAclTokenListEntry(parseJson(`{"AccessorID":"b","Policies":[{"ID":"p","Name":"n"}]}`)),
    ];
    assert.equal(
      formatTokenList(entries, "pretty", false),
      `${BASIC_PRETTY}\nAccessorID:       b\nSecretID:         \nDescription:      \nLocal:            false\n` +
        "Create Time:      0001-01-01 00:00:00 +0000 UTC\nPolicies:\n   p - n\n",
    );
    const json = JSON.parse(formatTokenList(entries, "json", false));
    assert.deepEqual(Object.keys(json[1]), [
      "CreateIndex",
      "ModifyIndex",
      "AccessorID",
      "SecretID",
      "Description",
      "Policies",
      "Local",
      "CreateTime",
      "Hash",
    ]);
    assert.equal(json[1].Hash, null);
    assert.equal(formatTokenList([], "pretty", false), "");
    assert.equal(formatTokenList([], "json", false), "[]");
  });
});

describe("acl policy formatter", () => {
  const policy = decodeAclPolicy(
    parseJson(
      JSON.stringify({
        ID: "9a7b3a0c-1d1c-4a85-8d42-5d3a46a1c2f1",
        Name: "kv-app",
        Description: "app keys",
        Rules: 'key_prefix "app/" {\n  policy = "write"\n}',
        Datacenters: ["dc1", "dc2"],
        Hash: "YWJjZGVmZ2g=",
        CreateIndex: 7,
        ModifyIndex: 9,
      }),
    ),
  );

  it("prints FormatPolicy's labels, the rules last", () => {
    assert.equal(
      formatPolicy(policy, "pretty", true),
      "ID:           9a7b3a0c-1d1c-4a85-8d42-5d3a46a1c2f1\nName:         kv-app\nDescription:  app keys\n" +
        "Datacenters:  dc1, dc2\nHash:         6162636465666768\nCreate Index: 7\nModify Index: 9\n" +
        'Rules:\nkey_prefix "app/" {\n  policy = "write"\n}',
    );
    assert.equal(
      formatPolicy(policy, "json", false),
      '{\n    "ID": "9a7b3a0c-1d1c-4a85-8d42-5d3a46a1c2f1",\n    "Name": "kv-app",\n    "Description": "app keys",\n' +
        '    "Rules": "key_prefix \\"app/\\" {\\n  policy = \\"write\\"\\n}",\n    "Datacenters": [\n        "dc1",\n' +
        '        "dc2"\n    ],\n    "Hash": "YWJjZGVmZ2g=",\n    "CreateIndex": 7,\n    "ModifyIndex": 9\n}',
    );
  });

  it("keeps Go's nil apart from empty: Datacenters and Hash print null when the server sent none", () => {
    const bare = decodeAclPolicy(parseJson(`{"ID":"i","Name":"n","Datacenters":null}`));
    assert.match(formatPolicy(bare, "json", false), /"Datacenters": null,\n {4}"Hash": null,/);
    const empty = decodeAclPolicy(parseJson(`{"ID":"i","Name":"n","Datacenters":[],"Hash":""}`));
    assert.match(formatPolicy(empty, "json", false), /"Datacenters": \[\],\n {4}"Hash": "",/);
    assert.equal(
      formatPolicy(bare, "pretty", false),
      "ID:           i\nName:         n\nDescription:  \nDatacenters:  \nRules:\n",
    );
  });

  it("lists policies under their names, indented three spaces, with no separator", () => {
    const entries = [policy, decodeAclPolicyListEntry(parseJson(`{"ID":"g","Name":"global-management"}`))];
    assert.equal(
      formatPolicyList(entries, "pretty", false),
      "kv-app:\n   ID:           9a7b3a0c-1d1c-4a85-8d42-5d3a46a1c2f1\n   Description:  app keys\n" +
        "   Datacenters:  dc1, dc2\nglobal-management:\n   ID:           g\n   Description:  \n   Datacenters:  \n",
    );
    assert.equal(JSON.parse(formatPolicyList(entries, "json", false))[1].Name, "global-management");
  });

  it("knows only Consul's two formats", () => {
    assert.equal(aclFormat("json"), "json");
    assert.throws(() => aclFormat("yaml"), /^Error: Unknown format: yaml$/);
  });
});

describe("Go times", () => {
  it("print as Time.String and re-encode as RFC 3339 with nanoseconds, keeping the zone as written", () => {
    const t = parseGoTime("2024-02-29T03:04:05.120000000+02:00", "CreateTime");
    assert.equal(goTimeString(t), "2024-02-29 03:04:05.12 +0200 +0200");
    assert.equal(goTimeRfc3339(t), "2024-02-29T03:04:05.12+02:00");
    const utc = parseGoTime("2020-05-22T18:52:31.000000001Z", "CreateTime");
    assert.equal(goTimeString(utc), "2020-05-22 18:52:31.000000001 +0000 UTC");
    assert.equal(goTimeRfc3339(parseGoTime("2020-05-22T18:52:31-00:00", "x")), "2020-05-22T18:52:31Z");
    assert.equal(
      goTimeString(parseGoTime("2020-05-22T18:52:31-05:30", "x")),
      "2020-05-22 18:52:31 -0530 -0530",
    );
  });

  it("refuse what Go's time parser refuses", () => {
    for (const bad of [
      "2023-02-29T00:00:00Z",
      "2020-13-01T00:00:00Z",
      "2020-05-22 18:52:31Z",
      "2020-05-22T18:52:31",
    ])
      assert.throws(() => parseGoTime(bad, "CreateTime"), DecodeError, bad);
  });
});
