/**
 * The messages of the auth methods, in one place. None may interpolate a token, a secret id, a
 * JWT or the content of a file; a file's path and an error code are fine. Each says what to do.
 */
export const authMessages = {
  loginRefused: (method: string, vault: string): string =>
    `Vault refused the ${method} login: ${vault}. Check the credentials (they may have been ` +
    'rotated, revoked or locked out after failed logins) and the role.',
  loginMisconfigured: (method: string, mount: string, vault: string): string =>
    `Vault could not run the ${method} login at auth/${mount}/login: ${vault}. Check the auth ` +
    'option (role, mount) and that the method is enabled and configured in Vault.',
  loginAnswerInvalid: (method: string): string =>
    `Vault's answer to the ${method} login carried no usable token (auth.client_token). Check ` +
    'that vaultAddr leads to Vault.',
  fileUnreadable: (what: string, path: string, code: string): string =>
    `Could not read the ${what} file "${path}" (${code}): check the path and the process's ` +
    'permission to read it.',
  fileInvalid: (what: string, path: string): string =>
    `The ${what} file "${path}" holds no usable value: expected one line of visible ASCII ` +
    'characters (surrounding whitespace is ignored).',
} as const;
