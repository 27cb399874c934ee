// A real OpenID Connect provider (panva/oidc-provider) for Telemed's tests and demo.
// Usage: node provider.mjs CONFIG.json — the file holds {port, issuer, jwks, clients, accounts}:
//   jwks: {keys: [private JWKs]} (the first signs; rotating = restarting with new keys)
//   accounts: {"<login>": {fiscal_number, given_name, family_name, acr?}}
// The login page is oidc-provider's development interaction (login name, any password); an
// account not in the file is refused there. Consent is implied for the configured clients.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts ?? {};

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  pkce: { required: () => true, methods: ['S256'] },
  scopes: ['openid', 'profile', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'fiscal_number'],
  },
  conformIdTokenClaims: false, // the claims go into the ID token, as SPID/CIE gateways do
  acrValues: ['https://www.spid.gov.it/SpidL1', 'https://www.spid.gov.it/SpidL2',
              'https://www.spid.gov.it/SpidL3'],
  features: {
    devInteractions: { enabled: true },
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
const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
