// Makes an OCI image layout archive (oci-layout, index.json, blobs/sha256/…) from a root
// filesystem directory, for `ctr images import`: one uncompressed layer, a config and a manifest
// for linux/<host arch>. The index names the image with both annotations containerd 1.6 reads:
// io.containerd.image.name (the full name) and org.opencontainers.image.ref.name (the tag).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const GOARCH = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

/**
 * makeOciArchive({ rootfs, work, name, tag, out, config }) writes the archive to `out` and returns
 * { out, ref } where ref is `${name}:${tag}`. `work` is a scratch directory it may fill; `config`
 * replaces fields of the image's run config (a sandbox image's Entrypoint, say).
 */
export function makeOciArchive({ rootfs, work, name, tag = 'test', out, config: runConfig = {} }) {
  const layout = path.join(work, 'oci-layout-dir');
  const blobs = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (buf) => {
    const d = sha256(buf);
    fs.writeFileSync(path.join(blobs, d), buf);
    return { digest: `sha256:${d}`, size: buf.length };
  };

  const layerTar = path.join(work, 'layer.tar');
  execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', layerTar, '.']);
  const layer = put(fs.readFileSync(layerTar));
  fs.rmSync(layerTar);

  const arch = GOARCH[process.arch] ?? process.arch;
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], WorkingDir: '/', ...runConfig },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        history: [{ created_by: 'husk test/engines', comment: 'busybox rootfs' }],
      }),
    ),
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  const ref = `${name}:${tag}`;
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform: { architecture: arch, os: 'linux' },
          annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  execFileSync('tar', ['-C', layout, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
  fs.rmSync(layout, { recursive: true, force: true });
  return { out, ref };
}
