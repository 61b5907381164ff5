/**
 * How log lines leave an instance under PM2 (src/observability/batched-stdout.ts): the lines of
 * one event-loop turn in one write, in order, none held past the turn, and none lost at exit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { batchedStdout } from '../src/observability/batched-stdout.js';

function capture() {
  const writes: string[] = [];
  const callbacks: (() => void)[] = [];
  return { writes, callbacks, stream: batchedStdout((chunk, written) => { writes.push(chunk); if (written) callbacks.push(written); }) };
}

describe('log lines under PM2', () => {
  it('writes the lines of one turn in one call, in order, at the end of the turn', async () => {
    const { writes, stream } = capture();
    stream.write('a\n');
    stream.write('b\n');
    stream.write('c\n');
    assert.deepEqual(writes, [], 'nothing written during the turn');
    await nextTurn();
    assert.deepEqual(writes, ['a\nb\nc\n']);
    stream.write('d\n');
    await nextTurn();
    assert.deepEqual(writes, ['a\nb\nc\n', 'd\n'], 'a later line is not held back');
  });

  it('flush() writes what is pending at once and calls back only once the write is done; an empty flush calls back at once', async () => {
    const { writes, callbacks, stream } = capture();
    stream.write('fatal\n');
    let called = false;
    stream.flush(() => { called = true; });
    assert.deepEqual(writes, ['fatal\n']);
    assert.equal(called, false, 'not before the destination has it');
    callbacks.forEach((written) => { written(); });
    assert.ok(called);
    let emptyCalled = false;
    stream.flush(() => { emptyCalled = true; });
    assert.ok(emptyCalled);
    await nextTurn();
    assert.deepEqual(writes, ['fatal\n'], 'no second, empty write');
  });

  it('writes a batch at once when it reaches 64 KiB, without waiting for the turn to end', () => {
    const { writes, stream } = capture();
    const line = `${'x'.repeat(1023)}\n`;
    for (let i = 0; i < 64; i += 1) stream.write(line);
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.length, 64 * 1024);
  });
});
