// The `express4` devDependency is Express 4 installed under an alias; its API matches @types/express.
declare module 'express4' {
  import express from 'express'
  // eslint-disable-next-line no-restricted-syntax -- mirrors express's own default export
  export default express
}
