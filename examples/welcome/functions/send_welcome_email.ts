export default async function handler(job: FluxJob<{ userId: string; email: string }>, ctx: FluxContext) {
  const { userId, email } = job.data

  // ctx.db.query returns an array of row objects: no row means the user is not there
  // (e.g. the job ran before the INSERT that enqueued it was committed).
  const rows = await ctx.db.query('SELECT name FROM users WHERE id = $1', [userId])
  if (rows.length === 0) {
    throw new Error('user not found (userId: ' + userId + ')')
  }
  const user = rows[0]

  await ctx.email.send({
    to: email,
    template: 'welcome',
    data: { name: user.name },
  })
}
