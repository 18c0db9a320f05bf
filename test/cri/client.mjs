// A CRI v1 client over a unix socket, as kubelet has one: the RuntimeService and ImageService
// calls of cri-v1-subset.proto as promise-returning methods (cri.RunPodSandbox({...})). Field
// names are the proto's (snake_case), int64s come back as numbers, enums as their names.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cri-v1-subset.proto');
const CALL_TIMEOUT_MS = 60_000;

/** @type {any} the generated runtime.v1 package (gRPC's types do not know its services) */
let pkg;
function load() {
  pkg ??= /** @type {any} */ (
    grpc.loadPackageDefinition(
      protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true }),
    )
  ).runtime.v1;
  return pkg;
}

export function criClient(sock) {
  const v1 = load();
  const target = `unix://${sock}`;
  const creds = grpc.credentials.createInsecure();
  const services = [new v1.RuntimeService(target, creds), new v1.ImageService(target, creds)];
  const client = {
    close() {
      for (const s of services) s.close();
    },
  };
  for (const svc of services) {
    for (const name of Object.keys(Object.getPrototypeOf(svc))) {
      if (typeof svc[name] !== 'function' || !/^[A-Z]/.test(name)) continue;
      client[name] = (req, { timeout = CALL_TIMEOUT_MS } = {}) =>
        new Promise((resolve, reject) => {
          svc[name](req, { deadline: Date.now() + timeout }, (err, res) => {
            if (!err) return resolve(res);
            // The gRPC status message is what kubelet logs and puts in events: keep it whole.
            reject(
              Object.assign(new Error(`CRI ${name}: ${err.details || err.message}`), {
                code: err.code,
                details: err.details,
              }),
            );
          });
        });
    }
  }
  return client;
}
