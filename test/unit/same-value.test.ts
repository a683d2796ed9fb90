import { sameValue } from '../../src/common/same-value.js';

describe('sameValue', () => {
  it('compares objects by their keys and values, in any key order', () => {
    expect(sameValue({ a: 1, b: { c: [1, 2], d: 'x' } }, { b: { d: 'x', c: [1, 2] }, a: 1 })).toBe(true);
    expect(sameValue({ a: 1, b: 2 }, { a: 1, b: 3 })).toBe(false);
    expect(sameValue({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });

  it('keeps array order and tells arrays from objects', () => {
    expect(sameValue([1, 2], [2, 1])).toBe(false);
    expect(sameValue([1], { 0: 1 })).toBe(false);
    expect(sameValue(null, {})).toBe(false);
  });

  it('treats a key set to undefined as absent, as JSON does', () => {
    expect(sameValue({ a: 1, hostId: undefined }, { a: 1 })).toBe(true);
  });
});
