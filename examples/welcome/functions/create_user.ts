// POST /create_user  { "email": "...", "name": "..." }  →  201 { "id": "u_..." }
export default async function handler(req: FluxRequest<{ email: string; name?: string }>, ctx: FluxContext) {
  const user = await ctx.db.insert('users', { email: req.body.email, name: req.body.name ?? null })

  // Enqueue an async job — returns immediately
  await ctx.queue.enqueue('send_welcome_email', {
    userId: user.id,
    email: req.body.email,
  })

  return new Response(JSON.stringify({ id: user.id }), { status: 201 })
}
