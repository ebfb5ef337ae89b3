// Reads perfgate's JUnit XML with xunit-viewer's own parser (the one its CLI and web page use) and
// checks that it sees every testcase with the status the file gives it.
//
//   node .ci/check_xunit_viewer.mjs XUNIT_VIEWER_DIR FILE.xml [FILE.xml ...]
//
// XUNIT_VIEWER_DIR is the installed package (node_modules/xunit-viewer). The expected counts come
// from the XML itself: its <testcase> elements and the <failure>, <error> and <skipped> inside them,
// and the counters on each <testsuite>.
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [dir, ...files] = process.argv.slice(2)
if (!dir || files.length === 0) {
  console.error('usage: check_xunit_viewer.mjs XUNIT_VIEWER_DIR FILE.xml [FILE.xml ...]')
  process.exit(2)
}
const { default: parse } = await import(pathToFileURL(path.join(dir, 'src/cli/parse.js')).href)

const count = (text, re) => (text.match(re) || []).length
let failed = false
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8')
  const want = {
    tests: count(text, /<testcase[\s>]/g),
    failure: count(text, /<failure[\s>/]/g),
    error: count(text, /<error[\s>/]/g),
    skipped: count(text, /<skipped[\s>/]/g)
  }
  const attr = (name) => [...text.matchAll(new RegExp(`<testsuite\\s[^>]*\\b${name}="(\\d+)"`, 'g'))]
    .reduce((a, m) => a + Number(m[1]), 0)
  let res
  try {
    res = await parse(text)
  } catch (e) {
    console.error(`xunit-viewer: ${file}: does not parse: ${e.message}`)
    failed = true
    continue
  }
  const tests = Object.values(res.suites).flatMap((s) => Object.values(s.tests || {}))
  const got = { tests: tests.length, failure: 0, error: 0, skipped: 0 }
  for (const t of tests) if (t.status in got) got[t.status] += 1
  const suiteSays = { tests: attr('tests'), failure: attr('failures'), error: attr('errors'), skipped: attr('skipped') }
  const problems = []
  for (const k of Object.keys(want)) {
    if (got[k] !== want[k]) problems.push(`${k}: xunit-viewer sees ${got[k]}, the file has ${want[k]}`)
    if (suiteSays[k] !== want[k]) problems.push(`${k}: the testsuite says ${suiteSays[k]}, its testcases ${want[k]}`)
  }
  const unnamed = tests.filter((t) => !t.name).length
  if (unnamed) problems.push(`${unnamed} testcases without a name`)
  if (problems.length) {
    console.error(`xunit-viewer: ${file}:\n  ${problems.join('\n  ')}`)
    failed = true
  } else {
    console.log(`xunit-viewer: ${file}: ${got.tests} testcases (${got.failure} failures, ${got.error} errors, ${got.skipped} skipped): OK`)
  }
}
process.exit(failed ? 1 : 0)
