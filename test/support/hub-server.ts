/**
 * A loopback Hugging Face Hub (node:http on 127.0.0.1, port 0) with the Hub's real routes, fault
 * hooks, and builders for repos and safetensors files. The implementation is plain JS
 * (hub-server.mjs) so bench/*.mjs can use it too.
 */
export * from './hub-server.mjs'
