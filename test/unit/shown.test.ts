import { escapeControls } from '../../src/common/shown.js';
import { shownPath } from '../../src/activities/host/sandbox-files.js';

describe('escapeControls', () => {
  it('escapes what a terminal would act on and leaves text alone', () => {
    expect(escapeControls('plain é 😀')).toBe('plain é 😀');
    expect(escapeControls('a\u001b[31mb')).toBe('a\\u001b[31mb');
    expect(escapeControls('line\nnext\r\t')).toBe('line\\nnext\\r\\t');
    expect(escapeControls('\u009b2J \u007f \u202eevil \u2028')).toBe('\\u009b2J \\u007f \\u202eevil \\u2028');
  });

  it('shows file-API paths quoted, with C1 and bidi controls escaped too', () => {
    expect(shownPath('/a\u001b\u009b\u202e"b')).toBe('"/a\\u001b\\u009b\\u202e\\"b"');
  });
});
