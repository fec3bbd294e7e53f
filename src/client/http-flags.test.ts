import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseFlags } from "../util/flags.js";
import {
  clientConfigFrom,
  type Env,
  type HttpFileSettings,
  httpClientFlags,
  httpFlagValueName,
  httpServerFlags,
} from "./http-flags.js";

const defs = { ...httpClientFlags, ...httpServerFlags };

function resolve(argv: string[], env: Env, file: HttpFileSettings = {}) {
  const p = parseFlags(defs, argv);
  return clientConfigFrom(p.values, p.set, env, file);
}

describe("HTTP flags and env: flag > CAIRN_* > CONSUL_* > default", () => {
  const cases: Array<{ name: string; argv: string[]; env: Env; address: string | undefined }> = [
    { name: "default", argv: [], env: {}, address: undefined },
    { name: "CONSUL_", argv: [], env: { CONSUL_HTTP_ADDR: "c:1" }, address: "c:1" },
    {
      name: "CAIRN_ beats CONSUL_",
      argv: [],
      env: { CONSUL_HTTP_ADDR: "c:1", CAIRN_HTTP_ADDR: "k:2" },
      address: "k:2",
    },
    {
      name: "empty CAIRN_ falls through",
      argv: [],
      env: { CONSUL_HTTP_ADDR: "c:1", CAIRN_HTTP_ADDR: "" },
      address: "c:1",
    },
    {
      name: "flag beats both",
      argv: ["-http-addr=f:3"],
      env: { CONSUL_HTTP_ADDR: "c:1", CAIRN_HTTP_ADDR: "k:2" },
      address: "f:3",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(resolve(c.argv, c.env).address, c.address);
    });
  }

  it("resolves every setting from its own variables", () => {
    const env: Env = {
      CONSUL_HTTP_TOKEN: "t-consul",
      CAIRN_HTTP_TOKEN_FILE: "/tf",
      CONSUL_CACERT: "/ca",
      CAIRN_CAPATH: "/capath",
      CONSUL_CLIENT_CERT: "/cert",
      CAIRN_CLIENT_KEY: "/key",
      CONSUL_TLS_SERVER_NAME: "consul.service",
      CONSUL_HTTP_SSL: "true",
      CAIRN_HTTP_SSL_VERIFY: "0",
      CONSUL_HTTP_AUTH: "u:p",
    };
    const c = resolve(["-token=t-flag", "-datacenter=dc2"], env);
    assert.equal(c.token, "t-flag");
    assert.equal(c.tokenFile, "/tf");
    assert.equal(c.datacenter, "dc2");
    assert.equal(c.useTls, true);
    assert.equal(c.basicAuth, "u:p");
    assert.deepEqual(c.tls, {
      caFile: "/ca",
      caPath: "/capath",
      certFile: "/cert",
      keyFile: "/key",
      serverName: "consul.service",
      insecureSkipVerify: true,
    });
  });

  it("parses the SSL switches with Go's ParseBool and ignores junk", () => {
    assert.equal(resolve([], { CONSUL_HTTP_SSL: "T" }).useTls, true);
    assert.equal(resolve([], { CONSUL_HTTP_SSL: "yes" }).useTls, undefined);
    assert.equal(resolve([], { CAIRN_HTTP_SSL: "false", CONSUL_HTTP_SSL: "true" }).useTls, undefined);
    assert.equal(resolve([], { CONSUL_HTTP_SSL_VERIFY: "true" }).tls?.insecureSkipVerify, undefined);
  });

  it("lets an explicitly empty flag override the environment, as Go's StringValue does", () => {
    assert.equal(resolve(["-token="], { CONSUL_HTTP_TOKEN: "x" }).token, "");
  });
});

describe("a config file's connection settings: flag > file > environment", () => {
  const file: HttpFileSettings = {
    address: "file:1",
    token: "t-file",
    datacenter: "dc-file",
    caFile: "/file/ca",
    caPath: "/file/capath",
    certFile: "/file/cert",
    keyFile: "/file/key",
    tlsServerName: "file.name",
  };
  const env: Env = {
    CONSUL_HTTP_ADDR: "env:1",
    CONSUL_HTTP_TOKEN: "t-env",
    CONSUL_CACERT: "/env/ca",
    CONSUL_CAPATH: "/env/capath",
    CONSUL_CLIENT_CERT: "/env/cert",
    CONSUL_CLIENT_KEY: "/env/key",
    CONSUL_TLS_SERVER_NAME: "env.name",
  };

  it("takes every file setting over the environment", () => {
    const c = resolve([], env, file);
    assert.equal(c.address, "file:1");
    assert.equal(c.token, "t-file");
    assert.equal(c.datacenter, "dc-file");
    assert.deepEqual(c.tls, {
      caFile: "/file/ca",
      caPath: "/file/capath",
      certFile: "/file/cert",
      keyFile: "/file/key",
      serverName: "file.name",
    });
  });

  it("lets a flag beat the file", () => {
    const c = resolve(
      ["-http-addr=flag:1", "-token=t-flag", "-datacenter=dc-flag", "-ca-file=/flag/ca"],
      env,
      file,
    );
    assert.equal(c.address, "flag:1");
    assert.equal(c.token, "t-flag");
    assert.equal(c.datacenter, "dc-flag");
    assert.equal(c.tls?.caFile, "/flag/ca");
  });

  it("reads an empty file value as not set, so the environment still applies", () => {
    const c = resolve([], env, { address: "", token: "", caFile: "" });
    assert.equal(c.address, "env:1");
    assert.equal(c.token, "t-env");
    assert.equal(c.tls?.caFile, "/env/ca");
  });
});

describe("httpFlagValueName", () => {
  it("names Consul's HTTP flags' values `value` unless the usage quotes a word, as flag.Var flags read", () => {
    assert.equal(httpFlagValueName("token", httpClientFlags.token), "value");
    assert.equal(httpFlagValueName("http-addr", httpClientFlags["http-addr"]), "address");
    assert.equal(httpFlagValueName("stale", httpServerFlags.stale), "");
    assert.equal(httpFlagValueName("other", { kind: "int", default: 0, usage: "n" }), "int");
  });
});
