// Baseline 2: what the classic Express + jsonwebtoken tutorial runs.
import express, { type NextFunction, type Request, type Response } from 'express'
import jwt from 'jsonwebtoken'

const secret = process.env.BENCH_SECRET!
const app = express()

function authenticateToken (req: Request, res: Response, next: NextFunction) {
  const token = req.headers.authorization?.split(' ')[1]
  if (token === undefined) return res.sendStatus(401)
  jwt.verify(token, secret, (err, user) => {
    if (err) return res.sendStatus(403)
    res.locals.user = user
    next()
  })
}

app.get('/', authenticateToken, (_req, res) => {
  res.send('Welcome, ' + res.locals.user.username + '!')
})
app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\n'))
