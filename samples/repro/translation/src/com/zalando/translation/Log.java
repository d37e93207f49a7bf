package com.zalando.translation;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/** Tiny logback-pattern logger: %d{yyyy-MM-dd HH:mm:ss.SSS} [%thread] %-5level %logger{36} - %msg%n%ex */
final class Log {
    private static final DateTimeFormatter TS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS");
    private static final PrintStream OUT = System.out;
    private final String abbreviated;

    Log(String fqcn) {
        this.abbreviated = abbreviate(fqcn, 36);
    }

    /** logback's TargetLengthBasedClassNameAbbreviator behaviour for the usual case: shorten packages to one letter. */
    static String abbreviate(String fqcn, int target) {
        if (fqcn.length() <= target) return fqcn;
        String[] parts = fqcn.split("\\.");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < parts.length - 1; i++) sb.append(parts[i].charAt(0)).append('.');
        return sb.append(parts[parts.length - 1]).toString();
    }

    void info(String msg) { write("INFO", msg, null); }
    void warn(String msg) { write("WARN", msg, null); }
    void error(String msg, Throwable t) { write("ERROR", msg, t); }

    private void write(String level, String msg, Throwable t) {
        StringBuilder sb = new StringBuilder(256);
        sb.append(LocalDateTime.now().format(TS)).append(" [").append(Thread.currentThread().getName()).append("] ")
          .append(String.format("%-5s", level)).append(' ').append(abbreviated).append(" - ").append(msg).append('\n');
        if (t != null) {
            StringWriter sw = new StringWriter();
            t.printStackTrace(new PrintWriter(sw));
            sb.append(sw);
        }
        synchronized (OUT) {
            OUT.print(sb);
            OUT.flush();
        }
    }
}
