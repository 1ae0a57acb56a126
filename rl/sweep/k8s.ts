// The Kubernetes backend: an Indexed Job (completion index i runs cell i through the cell
// runner, which reads $JOB_COMPLETION_INDEX) plus a ConfigMap carrying sweep.json, rendered
// as one YAML file and validated against the Kubernetes OpenAPI schema (kubernetes-models).
// The runs go to a PersistentVolumeClaim mounted at k8s.mountPath, shared by all pods; copy
// it back (or mount it) and `npm run rl -- report <root>` merges it like any other sweep.
// The image is built from deploy/Containerfile.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { MANIFEST_FILE, type SweepManifest } from './manifest.ts';
import type { K8sOptions } from './spec.ts';

/** Where the image puts the project (deploy/Containerfile's WORKDIR). */
export const IMAGE_WORKDIR = '/app';
const MANIFEST_MOUNT = '/etc/sweep';
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 name from the sweep's name plus a hash of its root (Job names must be ≤ 63 characters). */
export function k8sName(manifest: SweepManifest, root: string, suffix = ''): string {
  const base = manifest.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'sweep';
  const h = createHash('sha1').update(path.resolve(root)).digest('hex').slice(0, 6);
  return `sweep-${base}-${h}${suffix}`.slice(0, 63).replace(/-+$/, '');
}

export interface K8sRender {
  yaml: string;
  objects: Array<Record<string, unknown>>;
  jobName: string;
}

/**
 * Renders ConfigMap + Indexed Job for all cells. `attempt` > 0 names a resubmission
 * ("-r1"): the cell runner returns at once for cells already done, so rerunning the whole
 * index range resumes the sweep.
 */
export function renderK8s(manifest: SweepManifest, root: string, k: K8sOptions, attempt = 0): K8sRender {
  const name = k8sName(manifest, root, attempt ? `-r${attempt}` : '');
  const cmName = k8sName(manifest, root, '-cells');
  for (const n of [name, cmName]) if (!DNS1123.test(n) || n.length > 63) throw new Error(`k8s: '${n}' is not a valid object name (DNS-1123, ≤ 63 characters)`);
  const labels = { 'app.kubernetes.io/name': 'stackelberg-gpu-sweep', 'stackelberg-gpu/sweep': cmName.replace(/-cells$/, '') };
  const manifestJson = JSON.stringify(manifest);
  if (manifestJson.length > 1_000_000) throw new Error(`k8s: sweep.json is ${manifestJson.length} bytes, over a ConfigMap's 1 MiB; split the sweep`);
  const cm = new ConfigMap({ metadata: { name: cmName, namespace: k.namespace, labels }, data: { [MANIFEST_FILE]: manifestJson } });
  const limits: Record<string, string> = { memory: k.memory };
  if (k.gpus) limits['nvidia.com/gpu'] = String(k.gpus);
  const job = new Job({
    metadata: { name, namespace: k.namespace, labels },
    spec: {
      completionMode: 'Indexed',
      completions: manifest.cells.length,
      parallelism: Math.min(k.parallelism, manifest.cells.length),
      // Per-index retries: one pod failing (eviction, OOM) does not fail the others.
      backoffLimitPerIndex: k.backoffLimitPerIndex,
      maxFailedIndexes: manifest.cells.length,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          containers: [{
            name: 'cell',
            image: k.image,
            workingDir: IMAGE_WORKDIR,
            command: ['node', '--import', 'tsx', 'rl/sweep/cell.ts', `${MANIFEST_MOUNT}/${MANIFEST_FILE}`, '--root', k.mountPath],
            env: [{ name: 'XDG_RUNTIME_DIR', value: '/tmp' }, ...(k.gpus ? [{ name: 'NVIDIA_DRIVER_CAPABILITIES', value: 'compute,utility,graphics' }] : [])],
            resources: { requests: { cpu: k.cpu, memory: k.memory }, limits },
            volumeMounts: [{ name: 'runs', mountPath: k.mountPath }, { name: 'cells', mountPath: MANIFEST_MOUNT, readOnly: true }],
          }],
          volumes: [
            { name: 'runs', persistentVolumeClaim: { claimName: k.pvc } },
            { name: 'cells', configMap: { name: cmName } },
          ],
        },
      },
    },
  });
  // Schema validation (types, enums, required fields) as the API server's OpenAPI schema states them.
  for (const o of [cm, job]) {
    try {
      o.validate();
    } catch (e) {
      throw new Error(`k8s: the rendered ${o.kind} does not validate against the Kubernetes schema: ${(e as Error).message}`);
    }
  }
  const objects = [cm.toJSON(), job.toJSON()] as Array<Record<string, unknown>>;
  const header = `# Sweep '${manifest.name}': ${manifest.cells.length} cells; Indexed Job, completion index i runs cell i.\n` +
    `# The runs land on PVC '${k.pvc}' at ${k.mountPath}. Image: deploy/Containerfile.\n# kubectl apply -f <this file>\n`;
  return { yaml: header + objects.map((o) => YAML.stringify(o)).join('---\n'), objects, jobName: name };
}

export function writeK8s(manifest: SweepManifest, root: string, k: K8sOptions, resume: boolean): { file: string; render: K8sRender } {
  const dir = path.join(root, 'k8s');
  fs.mkdirSync(dir, { recursive: true });
  const attempt = resume ? fs.readdirSync(dir).filter((f) => /^job(-r\d+)?\.yaml$/.test(f)).length : 0;
  const render = renderK8s(manifest, root, k, attempt);
  const file = path.join(dir, attempt ? `job-r${attempt}.yaml` : 'job.yaml');
  fs.writeFileSync(file, render.yaml);
  return { file, render };
}
