import net from 'node:net';

/** A TCP port free on 127.0.0.1 right now (for local helpers such as the SDK's metrics exporter). */
export async function freeLocalPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
