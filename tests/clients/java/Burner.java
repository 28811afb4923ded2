/**
 * A Java program for the JFR test of tests/integration_collector.rs: for ARGS[0] milliseconds it
 * burns CPU in `spin` and allocates 64 KiB arrays (outside TLABs) in `allocate`.
 */
public class Burner {
    static long spin(long n) {
        long x = 0;
        for (long i = 0; i < n; i++) { x = x * 31 + i; }
        return x;
    }
    static byte[][] keep = new byte[64][];
    static void allocate(int i) { keep[i % 64] = new byte[64 * 1024]; }
    public static void main(String[] a) {
        long end = System.currentTimeMillis() + Long.parseLong(a[0]);
        long s = 0; int i = 0;
        while (System.currentTimeMillis() < end) { s += spin(200_000); allocate(i++); }
        System.out.println(s);
    }
}
