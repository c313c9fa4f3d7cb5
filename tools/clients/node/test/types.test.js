'use strict'
// index.d.ts, checked by the TypeScript compiler (a devDependency): what a
// TypeScript cart writes (test/usage.ts) compiles under --strict, and a
// wrong status or a missing field does not.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const TSC = path.join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc')
const FLAGS = ['--noEmit', '--strict', '--target', 'es2020', '--module', 'commonjs',
  '--moduleResolution', 'node', '--skipLibCheck']

function tsc (file) {
  try {
    execFileSync(process.execPath, [TSC, ...FLAGS, file], { encoding: 'utf8' })
    return ''
  } catch (error) {
    return error.stdout || String(error)
  }
}

test('index.d.ts: a cart written in TypeScript type-checks', () => {
  assert.equal(tsc(path.join(__dirname, 'usage.ts')), '')
})

test('index.d.ts: a wrong status and a missing field do not', () => {
  const dir = fs.mkdtempSync(path.join(__dirname, '.tmp-'))
  try {
    const file = path.join(dir, 'wrong.ts')
    fs.writeFileSync(file, `import { Client } from '../..'
const client = new Client('tcp://127.0.0.1:8791')
void client.list({ user_id: 'u1', status: 'shipping' })
void client.confirm({ user_id: 'u1', order_id: 'o1' })
`)
    const out = tsc(file)
    assert.match(out, /"shipping"/)
    assert.match(out, /provider_order_id/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
