/**
 * The little of `oidc-provider` (a devDependency that ships no types) that
 * test/helpers/oidc-provider.ts uses. Configuration stays loosely typed: the helper passes
 * it through and oidc-provider validates it itself at construction.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** RFC 7591 client metadata, as oidc-provider accepts it in `clients`. */
  export type ClientMetadata = { readonly client_id: string } & Readonly<Record<string, unknown>>;

  /** A Koa context: only the raw request (and through it the TLS socket) is read. */
  export interface KoaContextWithOIDC {
    readonly req: IncomingMessage;
  }

  /** The authorization server. */
  export default class Provider {
    constructor(issuer: string, configuration?: Readonly<Record<string, unknown>>);
    /** A `node:http(s)` request listener. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
