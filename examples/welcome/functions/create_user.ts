// POST /create_user  { "email": "...", "name": "...", "id"?: "u_..." }  →  201 { "id": "u_..." }
export default async function handler(req: FluxRequest<{ email: string; name?: string; id?: string }>, ctx: FluxContext) {
  const user = await ctx.db.insert('users', { email: req.body.email, name: req.body.name ?? null, id: req.body.id ?? newUserId(), created_at: new Date().toISOString() })
  // The function makes the id and the time, so the table's SQL runs on SQLite and PostgreSQL
  // alike; a caller may give the id (the README's story does, for a user a failed job awaits).

  // Enqueue an async job — returns immediately
  await ctx.queue.enqueue('send_welcome_email', {
    userId: user.id,
    email: req.body.email,
  })

  return new Response(JSON.stringify({ id: user.id }), { status: 201 })
}

// Ids like u_3f2a9c0d1e4b5a6f: 8 random bytes in hex.
function newUserId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8))
  return 'u_' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
