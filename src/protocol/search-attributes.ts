import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes that make sessions findable in the Temporal Web UI and through visibility. */
export const SbxSessionState = defineSearchAttributeKey('SbxSessionState', SearchAttributeType.KEYWORD);
export const SbxHost = defineSearchAttributeKey('SbxHost', SearchAttributeType.KEYWORD);
export const SbxTemplate = defineSearchAttributeKey('SbxTemplate', SearchAttributeType.KEYWORD);
export const SbxTurn = defineSearchAttributeKey('SbxTurn', SearchAttributeType.INT);

export const sbxSearchAttributes = [SbxSessionState, SbxHost, SbxTemplate, SbxTurn];

/** The dev server's `--search-attribute NAME=TYPE` arguments for the keys above. */
export function searchAttributeArgs(): string[] {
  const cliType: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int' };
  return sbxSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=${cliType[key.type]}`]);
}
