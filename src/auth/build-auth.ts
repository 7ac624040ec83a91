// Builds the authentication / authorization chain from `config.auth`.
//
// The result is one Hooks object whose authenticate() runs the configured authenticators in
// order (auth.chain) behind the login guard and then applies the anonymous rule, and whose
// authorizers run the JWT ACL claims first and the ACL file (or the default) second.

import { setTimeout as sleep } from 'node:timers/promises';
import type { PetrelConfig } from '../config/schema.js';
import type {
  AuthenticateRequest,
  AuthenticateResult,
  ClientInfo,
  EnhancedAuthExchange,
  EnhancedAuthProvider,
  Hooks,
} from '../hooks/hooks.js';
import type { ConnectPacket, PublishPacket, Subscription } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { listenerName } from '../listeners/listener.js';
import { AccessControl, aclAuthorizer, loadAclFile, reloadAclFile } from './acl-file.js';
import { certificateAuthenticator } from './certificate-auth.js';
import { HttpAuthenticator, httpAuthenticator } from './http-auth.js';
import { JwtVerifier, jwtAuthenticator, jwtAuthorizer } from './jwt.js';
import type { AuthLogger } from './logger.js';
import { LoginGuard } from './login-guard.js';
import { PasswordFile, passwordFileAuthenticator } from './password-file.js';
import { ScramProvider } from './scram.js';
import { watchFile, type FileWatch } from './watch-file.js';

type ChainEntry = NonNullable<PetrelConfig['auth']['chain']>[number];

export interface AuthSystem {
  hooks: Hooks[];
  enhancedAuth: EnhancedAuthProvider[];
  /** Re-reads the password, ACL and key files; a file that fails to load keeps its previous state (logged). */
  reload(): Promise<void>;
  close(): void;
  loginGuard: LoginGuard;
}

export interface BuildAuthOptions {
  /** Reload files when they change on disk (default true). */
  watch?: boolean;
}

function defaultChain(config: PetrelConfig): ChainEntry[] {
  const chain: ChainEntry[] = [];
  if (config.listeners.some((listener) => listener.certificateAsUsername)) chain.push('certificate');
  if (config.auth.passwordFile) chain.push('password-file');
  if (config.auth.jwt) chain.push('jwt');
  if (config.auth.http) chain.push('http');
  return chain;
}

export function buildAuth(config: PetrelConfig, logger: AuthLogger, options: BuildAuthOptions = {}): AuthSystem {
  const auth = config.auth;
  const chain = auth.chain ?? defaultChain(config);
  const guard = new LoginGuard({ failedLoginLimit: auth.failedLoginLimit, banSeconds: auth.banSeconds });
  const watches: FileWatch[] = [];
  const reloaders: Array<() => void> = [];
  const watchAndReload = (path: string | undefined, reload: () => void) => {
    reloaders.push(reload);
    if (path && options.watch !== false) watches.push(watchFile(path, () => tryReload(reload)));
  };
  const tryReload = (reload: () => void) => {
    try {
      reload();
    } catch {
      // Already logged by the reloader; the previous state stays.
    }
  };

  const needsPasswordFile = chain.includes('password-file') || auth.scram?.enabled === true;
  if (needsPasswordFile && !auth.passwordFile) throw new Error('auth: password-file authentication needs auth.passwordFile');
  const passwordFile = needsPasswordFile && auth.passwordFile ? new PasswordFile(auth.passwordFile, logger) : undefined;
  if (passwordFile) watchAndReload(passwordFile.path, () => passwordFile.reload());

  let jwt: JwtVerifier | undefined;
  if (chain.includes('jwt')) {
    if (!auth.jwt) throw new Error('auth: the jwt authenticator needs auth.jwt');
    const verifier = new JwtVerifier(auth.jwt, logger);
    jwt = verifier;
    reloaders.push(() => verifier.reload());
    for (const path of [auth.jwt.publicKeyFile, auth.jwt.jwksFile]) {
      if (path && options.watch !== false) watches.push(watchFile(path, () => tryReload(() => verifier.reload())));
    }
  }

  let http: HttpAuthenticator | undefined;
  if (chain.includes('http')) {
    if (!auth.http) throw new Error('auth: the http authenticator needs auth.http');
    http = new HttpAuthenticator(auth.http, logger);
  }

  const certificateListeners = new Set(config.listeners.filter((listener) => listener.certificateAsUsername).map(listenerName));
  const authenticators: Hooks[] = chain.map((entry) => {
    switch (entry) {
      case 'password-file':
        return passwordFileAuthenticator(passwordFile as PasswordFile);
      case 'jwt':
        return jwtAuthenticator(jwt as JwtVerifier);
      case 'http':
        return httpAuthenticator(http as HttpAuthenticator);
      case 'certificate':
        return certificateAuthenticator(certificateListeners.size > 0 ? certificateListeners : undefined);
    }
  });

  const access = new AccessControl(auth.aclFile ? loadAclFile(auth.aclFile) : [], {
    defaultDecision: auth.aclDefault,
    protectSysReads: auth.aclFile !== undefined,
  });
  if (auth.aclFile) {
    const aclPath = auth.aclFile;
    watchAndReload(aclPath, () => reloadAclFile(access, aclPath, logger));
  }
  const authorizers: Hooks[] = [...(jwt ? [jwtAuthorizer()] : []), aclAuthorizer(access)];

  const anonymousByListener = new Map<string, boolean>();
  for (const listener of config.listeners) {
    if (listener.allowAnonymous !== undefined) anonymousByListener.set(listenerName(listener), listener.allowAnonymous);
  }
  const anonymousAllowed = (client: ClientInfo) => anonymousByListener.get(client.listener) ?? auth.anonymous;

  async function authenticate(request: AuthenticateRequest): Promise<AuthenticateResult> {
    const address = request.client.remoteAddress;
    const gate = guard.check(address);
    if (!gate.allowed) return { result: 'deny', reasonCode: ReasonCode.Banned, reasonString: 'too many failed logins' };
    if (gate.delayMs > 0) await sleep(gate.delayMs);
    const { username, password } = request.connect;
    const hasCredentials = username !== undefined || password !== undefined;
    for (const authenticator of authenticators) {
      const answer = await authenticator.authenticate?.(request);
      if (answer?.result === 'allow') {
        guard.recordSuccess(address);
        return answer;
      }
      if (answer?.result === 'deny') {
        if (answer.reasonCode === ReasonCode.BadUserNameOrPassword) guard.recordFailure(address);
        return answer;
      }
    }
    // Nobody recognised the client. Credentials nobody can check are only accepted when no
    // authenticator is configured at all (then they are just labels) and anonymous access is on.
    if (hasCredentials && authenticators.length > 0) {
      guard.recordFailure(address);
      return { result: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword };
    }
    if (anonymousAllowed(request.client)) return { result: 'allow' };
    return { result: 'deny', reasonCode: ReasonCode.NotAuthorized, reasonString: 'anonymous access is not allowed' };
  }

  function authorize<T>(select: (hooks: Hooks) => ((client: ClientInfo, subject: T) => unknown) | undefined) {
    const chainOf = authorizers.map(select).filter((hook) => hook !== undefined);
    return (client: ClientInfo, subject: T): 'allow' | 'deny' => {
      for (const hook of chainOf) {
        const answer = hook(client, subject);
        if (answer === 'allow' || answer === 'deny') return answer;
      }
      return auth.aclDefault;
    };
  }

  const hooks: Hooks = {
    authenticate,
    authorizePublish: authorize<PublishPacket>((hooks) => hooks.authorizePublish?.bind(hooks)),
    authorizeSubscribe: authorize<Subscription>((hooks) => hooks.authorizeSubscribe?.bind(hooks)),
  };

  const enhancedAuth: EnhancedAuthProvider[] = [];
  if (auth.scram?.enabled && passwordFile) enhancedAuth.push(guardedProvider(new ScramProvider(passwordFile), guard));

  return {
    hooks: [hooks],
    enhancedAuth,
    loginGuard: guard,
    async reload() {
      for (const reload of reloaders) tryReload(reload);
      http?.clearCache();
    },
    close() {
      for (const watch of watches) watch.close();
      watches.length = 0;
    },
  };
}

/** Puts an enhanced-auth provider behind the login guard (bans, failure counting). */
function guardedProvider(provider: EnhancedAuthProvider, guard: LoginGuard): EnhancedAuthProvider {
  return {
    method: provider.method,
    begin(client: ClientInfo, connect: ConnectPacket | undefined): EnhancedAuthExchange {
      const inner = provider.begin(client, connect);
      let checked = false;
      return {
        async step(data) {
          if (!checked) {
            checked = true;
            const gate = guard.check(client.remoteAddress);
            if (!gate.allowed) return { result: 'fail', reasonCode: ReasonCode.Banned, reasonString: 'too many failed logins' };
            if (gate.delayMs > 0) await sleep(gate.delayMs);
          }
          const answer = await inner.step(data);
          if (answer.result === 'fail') guard.recordFailure(client.remoteAddress);
          if (answer.result === 'success') guard.recordSuccess(client.remoteAddress);
          return answer;
        },
      };
    },
  };
}
