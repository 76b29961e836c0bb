// The shared behavioural suite against Express 4 (installed as the `express4` alias), which the
// middleware supports beside Express 5.
import express4 from 'express4'
import { makeExpressApp } from './express-app.js'
import { runAdapterSuite } from './shared-suite.js'

runAdapterSuite('express 4 (socket)', makeExpressApp(express4))
