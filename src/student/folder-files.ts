/**
 * Reads the files of a student folder by URL (fetch, in browsers and Node) or, in Node, by path. No Node
 * module is imported statically: a path is read through `process.getBuiltinModule('fs/promises')`, which
 * only exists in Node, so bundlers for the browser find nothing of Node's to pull in.
 */
import { DistillError, check, messageOf } from '../errors.js';

/** The files of one folder, named relative to it (`model.json`, `uint8/model.json`, `../classes.json`). */
export interface FolderFiles {
  /** Where the folder is, for messages. */
  readonly location: string;
  /** A file's text (UTF-8); rejects when it cannot be read. */
  text(name: string): Promise<string>;
  /** A file's bytes; rejects when it cannot be read. */
  bytes(name: string): Promise<ArrayBuffer>;
  /** Whether the file is there; a reader that cannot tell (a server's 404) says false. */
  exists(name: string): Promise<boolean>;
}

type FsPromises = {
  readFile(path: string, encoding?: 'utf8'): Promise<string | Uint8Array>;
  access(path: string): Promise<void>;
};

/** fs/promises when running in Node, else undefined. */
function nodeFs(): FsPromises | undefined {
  const node = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
  return node?.getBuiltinModule?.('fs/promises') as FsPromises | undefined;
}

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The page's own address in a browser (relative URLs resolve against it), else undefined. */
function pageAddress(): string | undefined {
  return (globalThis as { location?: { href?: string } }).location?.href;
}

/** `location` with one trailing slash, so that names resolve inside it. */
const asFolder = (location: string) => (location.endsWith('/') ? location : `${location}/`);

/**
 * The reader for a folder: `location` is a URL (absolute, or relative to the page in a browser), a file:
 * URL or, in Node, a path.
 */
export function folderFiles(location: string): FolderFiles {
  const fs = nodeFs();
  const isUrl = URL_SCHEME.test(location) || location.startsWith('blob:') || location.startsWith('data:');
  if (fs && (!isUrl || location.startsWith('file:'))) {
    const root = asFolder(location.startsWith('file:') ? decodeURIComponent(new URL(location).pathname) : location);
    return pathFiles(fs, root);
  }
  const base = isUrl ? undefined : pageAddress();
  check(
    isUrl || base !== undefined,
    `student ${location} is neither a URL nor a path this runtime can read; give an http(s) URL (or a folder path in Node)`,
  );
  return urlFiles(new URL(asFolder(location), base).href);
}

function pathFiles(fs: FsPromises, root: string): FolderFiles {
  const read = async <T>(name: string, encoding: 'utf8' | undefined): Promise<T> => {
    try {
      return (await fs.readFile(root + name, encoding)) as T;
    } catch (error) {
      throw new DistillError(`cannot read ${root + name}: ${messageOf(error)}; give the folder a run wrote (its student/ folder)`);
    }
  };
  return {
    location: root,
    text: (name) => read<string>(name, 'utf8'),
    bytes: async (name) => {
      const bytes = await read<Uint8Array>(name, undefined);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
    exists: (name) =>
      fs.access(root + name).then(
        () => true,
        () => false,
      ),
  };
}

function urlFiles(root: string): FolderFiles {
  const get = async (name: string): Promise<Response> => {
    const url = new URL(name, root).href;
    let response: Response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw new DistillError(`cannot fetch ${url}: ${messageOf(error)}; serve the student folder and give its URL`);
    }
    check(response.ok, `cannot fetch ${url}: HTTP ${response.status}; serve the whole student folder at ${root}`);
    return response;
  };
  return {
    location: root,
    text: async (name) => (await get(name)).text(),
    bytes: async (name) => (await get(name)).arrayBuffer(),
    exists: async (name) => {
      try {
        const response = await fetch(new URL(name, root).href);
        return response.ok;
      } catch {
        return false;
      }
    },
  };
}

/** Parses a JSON file of the folder, with a one-line error naming it. */
export async function readJson(files: FolderFiles, name: string): Promise<unknown> {
  const text = await files.text(name);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DistillError(`${files.location}${name} is not valid JSON (${messageOf(error)}); copy the file the run wrote again`);
  }
}
