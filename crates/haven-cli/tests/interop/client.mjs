// Interop check: drives Haven's FHIR R4 API with fhir-kit-client, an
// independent FHIR client library, used unmodified through its public API.
//
//   HAVEN_URL=https://127.0.0.1:PORT/fhir HAVEN_TOKEN=... \
//   NODE_EXTRA_CA_CERTS=/path/to/server-cert.pem node client.mjs
//
// TLS verification stays on: the caller trusts the server's self-signed
// certificate through NODE_EXTRA_CA_CERTS. Exits non-zero with a message on
// stderr at the first failed check; prints one JSON summary line on success.
// Install the dependency first with scripts/test-deps.sh.
//
// All data is fictional.

import { randomUUID } from 'node:crypto';
import { Client } from 'fhir-kit-client';

const MRN_SYSTEM = 'https://interop.test/mrn';
const LOINC = 'http://loinc.org';
const HEART_RATE = '8867-4';
const OBSERVATION_COUNT = 7;
const PAGE_SIZE = 3;
const MAX_PAGES = 20;
// Whole-run limit, so a hung server cannot hang the test suite.
const TIMEOUT_MS = Number(process.env.HAVEN_INTEROP_TIMEOUT_MS || 60_000);

class CheckFailed extends Error {}

function fail(message) {
  throw new CheckFailed(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function show(value) {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 600 ? `${text.slice(0, 600)}...` : text;
}

// Explains an error thrown by fhir-kit-client or by Node's fetch underneath it.
function describe(error) {
  if (error instanceof CheckFailed) return error.message;
  const lines = [error?.message ?? String(error)];
  if (error?.response) {
    // fhir-kit-client throws on every non-2xx (and on a body that is not
    // JSON) with { response: { status, data } }.
    lines.push(`HTTP status: ${error.response.status}`);
    const data = error.response.data;
    if (data?.resourceType === 'OperationOutcome' && Array.isArray(data.issue)) {
      for (const issue of data.issue) {
        lines.push(
          `issue: ${issue.severity ?? '?'} ${issue.code ?? '?'}: ${issue.diagnostics ?? issue.details?.text ?? ''}`,
        );
      }
    } else if (data !== undefined) {
      lines.push(`body: ${show(data)}`);
    }
  }
  // Network and TLS failures surface as "fetch failed" with the real reason
  // in `cause` (for example ECONNREFUSED or SELF_SIGNED_CERT_IN_CHAIN).
  let cause = error?.cause;
  while (cause) {
    lines.push(`cause: ${cause.code ? `${cause.code}: ` : ''}${cause.message ?? String(cause)}`);
    cause = cause.cause;
  }
  return lines.join('\n  ');
}

let currentStep = 'setup';

async function step(name, body) {
  currentStep = name;
  return body();
}

// Reads `<Type>/<id>/_history/<version>` (optionally after an absolute base)
// from a transaction-response entry's response.location.
function parseLocation(location, resourceType) {
  const match = new RegExp(
    `^(?:https?://\\S+/)?${resourceType}/([A-Za-z0-9\\-.]{1,64})/_history/([A-Za-z0-9\\-.]{1,64})$`,
  ).exec(location ?? '');
  check(
    match,
    `response.location ${show(location)} is not of the form ${resourceType}/<id>/_history/<version>`,
  );
  return { id: match[1], version: match[2] };
}

async function main() {
  const baseUrl = process.env.HAVEN_URL;
  const bearerToken = process.env.HAVEN_TOKEN;
  check(baseUrl, 'HAVEN_URL is not set (for example https://127.0.0.1:PORT/fhir)');
  check(bearerToken, 'HAVEN_TOKEN is not set (a bearer token for Haven)');
  check(
    process.env.NODE_TLS_REJECT_UNAUTHORIZED !== '0',
    'NODE_TLS_REJECT_UNAUTHORIZED=0 is set; this check keeps TLS verification on: ' +
      "trust the server's certificate with NODE_EXTRA_CA_CERTS instead",
  );

  const client = new Client({ baseUrl, bearerToken });
  let steps = 0;

  // a. CapabilityStatement
  await step('a: capabilityStatement', async () => {
    const cs = await client.capabilityStatement();
    check(
      cs?.resourceType === 'CapabilityStatement',
      `expected resourceType CapabilityStatement, got ${show(cs?.resourceType)}`,
    );
    check(
      typeof cs.fhirVersion === 'string' && cs.fhirVersion.startsWith('4.0'),
      `expected fhirVersion 4.0.x, got ${show(cs.fhirVersion)}`,
    );
  });
  steps++;

  // b. create a Patient
  const mrn = randomUUID();
  const patientId = await step('b: create Patient', async () => {
    const created = await client.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: MRN_SYSTEM, value: mrn }],
        name: [{ family: 'Interop', given: ['Kit'] }],
        gender: 'female',
        birthDate: '1980-01-02',
      },
    });
    check(
      created?.resourceType === 'Patient',
      `create returned resourceType ${show(created?.resourceType)}, expected Patient ` +
        '(the server must answer a create with the created resource as its JSON body)',
    );
    check(
      typeof created.id === 'string' && created.id.length > 0,
      `created Patient has no id: ${show(created)}`,
    );
    return created.id;
  });
  steps++;

  // c. read it back
  await step('c: read Patient', async () => {
    const patient = await client.read({ resourceType: 'Patient', id: patientId });
    check(patient?.resourceType === 'Patient', `read returned ${show(patient?.resourceType)}`);
    check(patient.id === patientId, `read returned id ${show(patient.id)}, expected ${patientId}`);
    const family = patient.name?.[0]?.family;
    check(family === 'Interop', `read returned family name ${show(family)}, expected "Interop"`);
    check(
      patient.meta?.versionId === '1',
      `read returned meta.versionId ${show(patient.meta?.versionId)}, expected "1"`,
    );
  });
  steps++;

  // d. 7 Observations, searched 3 to a page and followed with nextPage
  const pages = await step('d: Observation search paging', async () => {
    const createdIds = new Set();
    for (let i = 0; i < OBSERVATION_COUNT; i++) {
      const observation = await client.create({
        resourceType: 'Observation',
        body: {
          resourceType: 'Observation',
          status: 'final',
          category: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/observation-category',
                  code: 'vital-signs',
                  display: 'Vital Signs',
                },
              ],
            },
          ],
          code: {
            coding: [{ system: LOINC, code: HEART_RATE, display: 'Heart rate' }],
            text: 'Heart rate',
          },
          subject: { reference: `Patient/${patientId}` },
          effectiveDateTime: `2024-03-0${i + 1}T08:30:00Z`,
          valueQuantity: {
            value: 60 + i,
            unit: 'beats/minute',
            system: 'http://unitsofmeasure.org',
            code: '/min',
          },
        },
      });
      check(
        observation?.resourceType === 'Observation' && observation.id,
        `create Observation #${i + 1} returned ${show(observation)}`,
      );
      createdIds.add(observation.id);
    }
    check(
      createdIds.size === OBSERVATION_COUNT,
      `the ${OBSERVATION_COUNT} created Observations got only ${createdIds.size} distinct ids`,
    );

    let bundle = await client.search({
      resourceType: 'Observation',
      searchParams: { patient: patientId, _count: PAGE_SIZE },
    });
    check(bundle?.resourceType === 'Bundle', `search returned ${show(bundle?.resourceType)}`);
    check(bundle.type === 'searchset', `search Bundle type is ${show(bundle.type)}, expected searchset`);
    check(
      bundle.total === OBSERVATION_COUNT,
      `search Bundle total is ${show(bundle.total)}, expected ${OBSERVATION_COUNT}`,
    );
    check(
      (bundle.entry ?? []).length === PAGE_SIZE,
      `first page has ${(bundle.entry ?? []).length} entries, expected ${PAGE_SIZE} (_count=${PAGE_SIZE})`,
    );
    check(
      (bundle.link ?? []).some((l) => l.relation === 'next'),
      `first page has no link with relation "next": ${show(bundle.link)}`,
    );

    const seen = [];
    let pageCount = 0;
    while (bundle) {
      pageCount++;
      check(pageCount <= MAX_PAGES, `still finding "next" links after ${MAX_PAGES} pages`);
      check(
        bundle.resourceType === 'Bundle' && bundle.type === 'searchset',
        `page ${pageCount} is not a searchset Bundle: ${show({ resourceType: bundle.resourceType, type: bundle.type })}`,
      );
      for (const entry of bundle.entry ?? []) {
        if (entry.search?.mode === 'outcome') continue;
        check(
          entry.resource?.resourceType === 'Observation',
          `page ${pageCount} has a non-Observation entry: ${show(entry)}`,
        );
        seen.push(entry.resource.id);
      }
      // fhir-kit-client's nextPage takes { bundle }, GETs the link whose
      // relation is "next", and returns undefined when there is none.
      bundle = await client.nextPage({ bundle });
    }
    const distinct = new Set(seen);
    check(
      seen.length === OBSERVATION_COUNT && distinct.size === OBSERVATION_COUNT,
      `paging returned ${seen.length} entries with ${distinct.size} distinct ids over ${pageCount} pages, ` +
        `expected exactly ${OBSERVATION_COUNT}: ${show(seen)}`,
    );
    for (const id of createdIds) {
      check(distinct.has(id), `created Observation ${id} never appeared while paging: ${show(seen)}`);
    }
    return pageCount;
  });
  steps++;

  // e. search by token identifier system|value
  await step('e: Patient search by identifier', async () => {
    const bundle = await client.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${MRN_SYSTEM}|${mrn}` },
    });
    check(bundle?.resourceType === 'Bundle', `search returned ${show(bundle?.resourceType)}`);
    check(bundle.type === 'searchset', `search Bundle type is ${show(bundle.type)}, expected searchset`);
    check(bundle.total === 1, `identifier search total is ${show(bundle.total)}, expected 1`);
    const ids = (bundle.entry ?? [])
      .filter((e) => e.search?.mode !== 'outcome')
      .map((e) => e.resource?.id);
    check(
      ids.length === 1 && ids[0] === patientId,
      `identifier search returned ids ${show(ids)}, expected [${show(patientId)}]`,
    );
  });
  steps++;

  // f. transaction: Patient + Condition referring to it by urn:uuid
  await step('f: transaction', async () => {
    const patientUrn = `urn:uuid:${randomUUID()}`;
    const conditionUrn = `urn:uuid:${randomUUID()}`;
    const response = await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: patientUrn,
            resource: {
              resourceType: 'Patient',
              identifier: [{ system: MRN_SYSTEM, value: randomUUID() }],
              name: [{ family: 'Interop', given: ['Bundle'] }],
              gender: 'male',
              birthDate: '1975-06-15',
            },
            request: { method: 'POST', url: 'Patient' },
          },
          {
            fullUrl: conditionUrn,
            resource: {
              resourceType: 'Condition',
              clinicalStatus: {
                coding: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
                    code: 'active',
                  },
                ],
              },
              verificationStatus: {
                coding: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
                    code: 'confirmed',
                  },
                ],
              },
              code: {
                coding: [
                  { system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertensive disorder' },
                ],
                text: 'Hypertension',
              },
              subject: { reference: patientUrn },
              onsetDateTime: '2020-05-01',
            },
            request: { method: 'POST', url: 'Condition' },
          },
        ],
      },
    });
    check(response?.resourceType === 'Bundle', `transaction returned ${show(response?.resourceType)}`);
    check(
      response.type === 'transaction-response',
      `transaction response Bundle type is ${show(response.type)}, expected transaction-response`,
    );
    const entries = response.entry ?? [];
    check(entries.length === 2, `transaction response has ${entries.length} entries, expected 2`);
    entries.forEach((entry, i) => {
      check(
        typeof entry.response?.status === 'string' && entry.response.status.startsWith('201'),
        `transaction response entry ${i} status is ${show(entry.response?.status)}, expected "201 Created"`,
      );
    });
    // Response entries are in the same order as the request entries.
    const newPatient = parseLocation(entries[0].response.location, 'Patient');
    const condition = parseLocation(entries[1].response.location, 'Condition');
    check(
      newPatient.id !== patientId,
      `the transaction's Patient got the id of the Patient from step b (${patientId})`,
    );
    const read = await client.read({ resourceType: 'Condition', id: condition.id });
    check(read?.resourceType === 'Condition', `read Condition returned ${show(read?.resourceType)}`);
    check(
      read.subject?.reference === `Patient/${newPatient.id}`,
      `Condition.subject.reference is ${show(read.subject?.reference)}, ` +
        `expected "Patient/${newPatient.id}" (the urn:uuid must be rewritten to the new Patient)`,
    );
  });
  steps++;

  return { ok: true, steps, observationPages: pages };
}

const watchdog = setTimeout(() => {
  process.stderr.write(
    `interop: FAILED in step ${currentStep}: no answer within ${TIMEOUT_MS} ms (HAVEN_INTEROP_TIMEOUT_MS)\n`,
  );
  process.exit(1);
}, TIMEOUT_MS);
watchdog.unref();

try {
  const summary = await main();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exit(0);
} catch (error) {
  process.stderr.write(`interop: FAILED in step ${currentStep}:\n  ${describe(error)}\n`);
  process.exit(1);
}
