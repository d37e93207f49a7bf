'use strict';
// Campaign service repro (pmortem founding case). Plain Node.js 20, no dependencies.
//
// The primary forks one worker per CPU it sees (os.cpus().length, the classic
// cluster idiom) and respawns a worker the instant one exits (no backoff).
// Each worker allocates some memory and fetches translations from the
// translation service at startup (see translation.js, the live path).
//
// Emulations (documented in samples/README.md):
//  * CPU_COUNT=<n> overrides os.cpus().length, standing in for "the pod was
//    scheduled on a host with n cores" (os.cpus() reports host cores).
//  * MEMORY_LIMIT_MB=<n> turns on an emulated memory-cgroup OOM killer in the
//    primary: every OOM_CHECK_MS it sums the workers' VmRSS from
//    /proc/<pid>/status and, while the sum exceeds the limit, SIGKILLs the
//    largest worker, as the kernel's memory cgroup would. It writes nothing to
//    the application log (the kernel does not either); decisions go to
//    OOM_LOG (a separate ground-truth file) if set.
const cluster = require('node:cluster');
const os = require('node:os');
const fs = require('node:fs');

const APP = 'fragment';

if (cluster.isPrimary) {
  const cpus = process.env.CPU_COUNT ? parseInt(process.env.CPU_COUNT, 10) : os.cpus().length;
  const limitMb = process.env.MEMORY_LIMIT_MB ? parseInt(process.env.MEMORY_LIMIT_MB, 10) : 0;
  const checkMs = parseInt(process.env.OOM_CHECK_MS || '50', 10);
  const oomLog = process.env.OOM_LOG || '';
  let shuttingDown = false;

  console.log(`Starting campaign service (node ${process.version}, env ${process.env.NODE_ENV || 'production'})`);
  console.log(`Number of CPUs: ${cpus}`);
  console.log(`Primary ${process.pid} is running, forking ${cpus} workers`);
  // --expose-gc lets a worker hand its startup scratch memory back right away
  // (see worker.js), so a starting worker is the biggest process in the pod.
  cluster.setupPrimary({ execArgv: [...process.execArgv, '--expose-gc'] });
  for (let i = 0; i < cpus; i++) cluster.fork();

  cluster.on('exit', (worker, code, signal) => {
    if (shuttingDown) return;
    console.log(`Worker ${APP} (pid: ${worker.process.pid}) died (code: ${code}, signal: ${signal}), restarting`);
    cluster.fork();
  });

  if (limitMb > 0) {
    // Reads /proc/<pid>/status the way the kernel's OOM report describes a task.
    const procStatus = (pid) => {
      try {
        const txt = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = (k) => { const m = new RegExp(`${k}:\\s+(\\d+) kB`).exec(txt); return m ? parseInt(m[1], 10) : 0; };
        const uid = /Uid:\s+(\d+)/.exec(txt);
        return { rss: kb('VmRSS'), vm: kb('VmSize'), anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem'), pte: kb('VmPTE'), uid: uid ? parseInt(uid[1], 10) : 0 };
      } catch (e) {
        return { rss: 0 };
      }
    };
    const rssKb = (pid) => procStatus(pid).rss;
    setInterval(() => {
      const procs = [];
      let total = rssKb(process.pid);
      for (const id in cluster.workers) {
        const w = cluster.workers[id];
        if (!w || w.isDead() || w.__oomKilled) continue;
        const rss = rssKb(w.process.pid);
        total += rss;
        procs.push({ w, rss });
      }
      procs.sort((a, b) => b.rss - a.rss);
      while (total > limitMb * 1024 && procs.length) {
        const victim = procs.shift();
        victim.w.__oomKilled = true;
        total -= victim.rss;
        if (oomLog) {
          const st = procStatus(victim.w.process.pid);
          fs.appendFileSync(oomLog, JSON.stringify({
            ts_ns: String(BigInt(Date.now()) * 1000000n), pid: victim.w.process.pid, comm: 'node',
            rss_kb: victim.rss, total_vm_kb: st.vm || 0, anon_rss_kb: st.anon || 0, file_rss_kb: st.file || 0,
            shmem_rss_kb: st.shmem || 0, pgtables_kb: st.pte || 0, uid: st.uid || 0,
            total_kb_before: total + victim.rss, limit_mb: limitMb,
          }) + '\n');
        }
        try { process.kill(victim.w.process.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
      }
    }, checkMs);
  }

  process.on('SIGTERM', () => {
    shuttingDown = true;
    for (const id in cluster.workers) {
      try { cluster.workers[id].process.kill('SIGKILL'); } catch (e) { /* ignore */ }
    }
    setTimeout(() => process.exit(0), 100);
  });
} else {
  require('./worker.js');
}
