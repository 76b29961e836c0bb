import autocannon from 'autocannon'
const secs = Number(process.argv[2] ?? 10), conns = Number(process.argv[3] ?? 20)
const body = JSON.stringify({ username: 'benchuser1', password: 'correct horse battery staple 9' })
const r = await autocannon({ url: 'http://127.0.0.1:3999/auth/login', method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: conns, duration: secs })
console.log(r['2xx'])
