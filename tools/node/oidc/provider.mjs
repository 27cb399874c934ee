// A real OpenID Connect provider (panva/oidc-provider) for Telemed's tests and demo.
// Usage: node provider.mjs CONFIG.json — the file holds {port, issuer, jwks, clients, accounts}:
//   jwks: {keys: [private JWKs]} (the first signs; rotating = restarting with new keys)
//   accounts: {"<login>": {fiscal_number, given_name, family_name, acr?}}
// The login page below asks for a login name (any password): an account not in the file is
// refused there; a found one signs in with its `acr` (its SPID level), which the ID token
// carries. Consent is implied for the configured clients.
import { readFileSync } from 'node:fs';
import { parse } from 'node:querystring';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts ?? {};

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  pkce: { required: () => true, methods: ['S256'] },
  scopes: ['openid', 'profile', 'offline_access'],
  claims: {
    acr: null, auth_time: null, sid: null, iss: null,
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'fiscal_number'],
  },
  conformIdTokenClaims: false, // the claims go into the ID token, as SPID/CIE gateways do
  acrValues: ['https://www.spid.gov.it/SpidL1', 'https://www.spid.gov.it/SpidL2',
              'https://www.spid.gov.it/SpidL3'],
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: { IdToken: 600, AuthorizationCode: 60, Session: 3600, Grant: 3600, Interaction: 600 },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: `${account.given_name} ${account.family_name}`, ...account };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const accountId = ctx.oidc.session.accountId;
    if (!accountId || !accounts[accountId]) return undefined;
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId });
    grant.addOIDCScope('openid profile');
    grant.addOIDCClaims(['fiscal_number', 'given_name', 'family_name', 'name']);
    await grant.save();
    return grant;
  },
});
provider.proxy = true;

const page = (uid, error) => `<!doctype html><html lang="it"><head><meta charset="utf-8">
<title>Test SPID / CIE</title></head><body><h1>Test identity provider (SPID / CIE)</h1>
${error ? `<p role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login" autocomplete="off">
<label>Login <input name="login" required autofocus></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button></form></body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return parse(body);
}

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = page(details.uid);
    return undefined;
  }
  const form = await readForm(ctx.req);
  const account = accounts[form.login];
  if (!account) {
    ctx.status = 200;
    ctx.type = 'html';
    ctx.body = page(details.uid, 'Unknown login');
    return undefined;
  }
  const login = { accountId: form.login, ...(account.acr ? { acr: account.acr } : {}) };
  const redirectTo = await provider.interactionResult(ctx.req, ctx.res, { login },
    { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(redirectTo);
  return undefined;
});
const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
