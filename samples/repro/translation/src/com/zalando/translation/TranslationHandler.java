package com.zalando.translation;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.ThreadLocalRandom;

/** GET /translations?lang=de : slow-ish JSON dictionary, written in chunks. */
final class TranslationHandler implements HttpHandler {
    private static final Log LOG = new Log("com.zalando.translation.TranslationHandler");
    private static final int KEYS = Integer.parseInt(System.getenv().getOrDefault("TRANSLATION_KEYS", "4000"));
    private static final int CHUNK = 4096;
    private static final int WORK_MIN_MS = Integer.parseInt(System.getenv().getOrDefault("WORK_MIN_MS", "60"));
    private static final int WORK_MAX_MS = Integer.parseInt(System.getenv().getOrDefault("WORK_MAX_MS", "220"));
    private static final int CHUNK_PAUSE_MS = Integer.parseInt(System.getenv().getOrDefault("CHUNK_PAUSE_MS", "10"));

    @Override
    public void handle(HttpExchange exchange) {
        long t0 = System.nanoTime();
        String query = exchange.getRequestURI().getRawQuery();
        String lang = "en";
        if (query != null) {
            for (String kv : query.split("&")) {
                if (kv.startsWith("lang=")) lang = kv.substring(5);
            }
        }
        String tp = exchange.getRequestHeaders().getFirst("traceparent");
        String trace = (tp != null && tp.length() >= 35) ? tp.substring(3, 35) : "-";
        String client = exchange.getRemoteAddress().getAddress().getHostAddress() + ":" + exchange.getRemoteAddress().getPort();
        String req = exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath() + "?lang=" + lang;
        ResponseWriter writer = new ResponseWriter(exchange);
        try {
            byte[] body = render(lang);
            simulateWork();
            writer.begin(200, body.length);
            for (int off = 0; off < body.length; off += CHUNK) {
                writer.write(body, off, Math.min(CHUNK, body.length - off));
                if (CHUNK_PAUSE_MS > 0) Thread.sleep(CHUNK_PAUSE_MS);
            }
            writer.end();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            LOG.info(req + " 200 " + ms + "ms bytes=" + body.length + " client=" + client + " trace=" + trace);
        } catch (IllegalStateException e) {
            long ms = (System.nanoTime() - t0) / 1_000_000;
            LOG.error("Failed to write response for " + req + " after " + ms + "ms client=" + client + " trace=" + trace, e);
            exchange.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            exchange.close();
        }
    }

    private static void simulateWork() throws InterruptedException {
        Thread.sleep(ThreadLocalRandom.current().nextInt(WORK_MIN_MS, WORK_MAX_MS + 1));
    }

    private static byte[] render(String lang) {
        StringBuilder sb = new StringBuilder(KEYS * 48);
        sb.append("{\"lang\":\"").append(lang).append("\",\"messages\":{");
        for (int i = 0; i < KEYS; i++) {
            if (i > 0) sb.append(',');
            sb.append("\"campaign.banner.").append(i).append("\":\"").append(lang).append(" text ").append(i).append("\"");
        }
        sb.append("}}");
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }
}
