// The special strings of DeepSeek-V4's chat format (each is one token of the V4 vocabulary), shared by the
// prompt encoder (chat-encoding-v4.ts), the DSML tool-call blocks (dsml.ts) and the reply parser
// (chat-reply-v4.ts).

export const V4 = {
  bos: '<｜begin▁of▁sentence｜>',
  eos: '<｜end▁of▁sentence｜>',
  user: '<｜User｜>',
  assistant: '<｜Assistant｜>',
  latestReminder: '<｜latest_reminder｜>',
  thinkStart: '<think>',
  thinkEnd: '</think>',
  /** The tag prefix of tool-call markup: `<｜DSML｜invoke …>`. */
  dsml: '｜DSML｜',
} as const;

/** The special strings a reply may contain that its parser (chat-reply-v4.ts) must see, so a detokenizer must print them. */
export const V4_REPLY_MARKUP: readonly string[] = [V4.thinkStart, V4.thinkEnd, V4.dsml];
