// POST /create_user  { "email": "...", "name": "...", "id"?: "u_..." }  →  201 { "id": "u_..." }
export default async function handler(req: FluxRequest<{ email: string; name?: string; id?: string }>, ctx: FluxContext) {
  const user = await ctx.db.insert('users', { email: req.body.email, name: req.body.name ?? null, ...(req.body.id ? { id: req.body.id } : {}) })
  // The database chooses the id unless the caller gives one (the README's story does, to
  // create the user a failed job was waiting for).

  // Enqueue an async job — returns immediately
  await ctx.queue.enqueue('send_welcome_email', {
    userId: user.id,
    email: req.body.email,
  })

  return new Response(JSON.stringify({ id: user.id }), { status: 201 })
}
