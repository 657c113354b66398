// Per-worker queue settings; see README.md for the defaults and the other keys (http, retention, env).
export default {
  workers: {
    send_welcome_email: {
      maxAttempts: 3,
      timeoutSeconds: 60,
      backoff: 'linear',
    },
  },
}
