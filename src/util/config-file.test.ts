import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConfigFileError,
  type ConfigFs,
  configFiles,
  configSources,
  readJsonConfigFile,
} from "./config-file.js";
import { flag } from "./flags.js";

const fs = (files: Record<string, string>, dirs: Record<string, string[]> = {}): ConfigFs => ({
  readFile(path) {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  },
  readDir(path) {
    const names = dirs[path];
    if (names === undefined) throw new Error(`ENOENT: no such file or directory, scandir '${path}'`);
    return [...names];
  },
});

const defs = {
  "config-file": flag.list("f"),
  "config-dir": flag.list("d"),
  v: flag.bool(false, "bool"),
  name: flag.string("", "s"),
};

describe("configSources and configFiles", () => {
  it("keeps the command line's order across both flags and sorts each directory's .json files", () => {
    const argv = [
      "-config-dir=/d",
      "-v",
      "--name",
      "config-file",
      "-config-file",
      "/a.json",
      "-config-dir",
      "/e",
    ];
    const sources = configSources(defs, argv);
    assert.deepEqual(sources, [
      { path: "/d", dir: true },
      { path: "/a.json", dir: false },
      { path: "/e", dir: true },
    ]);
    const files = configFiles(sources, fs({}, { "/d": ["b.json", "a.json", "notes.txt"], "/e": [] }));
    assert.deepEqual(files, ["/d/a.json", "/d/b.json", "/a.json"]);
  });

  it("stops at --", () => {
    assert.deepEqual(configSources(defs, ["--", "-config-file=/x.json"]), []);
  });

  it("refuses a directory holding HCL rather than skip it", () => {
    assert.throws(
      () => configFiles([{ path: "/d", dir: true }], fs({}, { "/d": ["a.json", "b.hcl"] })),
      (e: unknown) =>
        e instanceof ConfigFileError &&
        e.message ===
          'cannot read config file "/d/b.hcl": HCL is not supported yet; write the configuration as JSON',
    );
  });
});

describe("readJsonConfigFile", () => {
  it("returns the object", () => {
    assert.deepEqual(readJsonConfigFile("/a.json", fs({ "/a.json": '{"a": [1]}' })), { a: [1] });
  });

  const bad: [string, Record<string, string>, string][] = [
    [
      "/a.hcl",
      {},
      'cannot read config file "/a.hcl": HCL is not supported yet; write the configuration as JSON',
    ],
    ["/a.yaml", {}, 'cannot read config file "/a.yaml": its name must end in .json'],
    ["/a.json", {}, "cannot read config file \"/a.json\": ENOENT: no such file or directory, open '/a.json'"],
    ["/a.json", { "/a.json": "[]" }, 'config file "/a.json" must hold a JSON object'],
    ["/a.json", { "/a.json": "{\n  x\n}" }, 'invalid JSON in config file "/a.json": line 2, column 3: '],
  ];
  for (const [file, files, message] of bad) {
    it(`refuses: ${message}`, () => {
      assert.throws(
        () => readJsonConfigFile(file, fs(files)),
        (e: unknown) => e instanceof ConfigFileError && e.message.startsWith(message),
      );
    });
  }
});
