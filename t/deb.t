#!/usr/bin/perl

# make deb's package (pkg/deb.sh): built from the module under test, laid
# out as Debian's libnginx-mod-* packages are, with Depends on the nginx
# ABI and the shared libraries; installed with dpkg into a throwaway root
# (its dpkg database holding only what the package depends on, taken from
# this system's), where nginx -t loads the module through the shipped
# snippet and its modules-enabled link; removed as dh_nginx's scripts do,
# reinstalled, and purged without a trace.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use File::Find;
use File::Temp qw(tempdir);
use Test::More;

plan skip_all => 'the package is made for Debian\'s nginx, not for '
               . 'TEST_NGINX_BINARY\'s'
    if $ENV{TEST_NGINX_BINARY};
plan skip_all => 'a sanitizer build is not packaged'
    if $ENV{TEST_NGINX_ASAN};

CiJobsTest::require_prerequisite(
    !system('command -v dpkg-deb dpkg-shlibdeps >/dev/null 2>&1'),
    'dpkg-deb and dpkg-shlibdeps (dpkg-dev)');

my $ROOT = $CiJobsTest::ROOT;
my $NGINX = $CiJobsTest::NGINX;
my $NAME = 'libnginx-mod-http-ci-jobs';
my $LINK = 'etc/nginx/modules-enabled/50-mod-http-ci-jobs.conf';

my $tmp = tempdir('ci-jobs-deb-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{TEST_NGINX_LEAVE});

# a command, without a shell: its status and what it said
sub run {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT or die;
        exec @cmd or die "exec $cmd[0]: $!";
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    return ($? >> 8, $out);
}

# --- the package ----------------------------------------------------------------

my ($version) = CiJobsTest::slurp("$ROOT/src/ngx_http_ci_jobs_module.h")
    =~ /^#define NGX_HTTP_CI_JOBS_VERSION\s+"([^"]+)"/m;
chomp(my $arch = `dpkg --print-architecture`);

my ($rc, $out) = run("$ROOT/pkg/deb.sh", $CiJobsTest::MODULE, "$tmp/out");
is($rc, 0, 'pkg/deb.sh builds the package') or diag($out);
my $deb = "$tmp/out/${NAME}_${version}_${arch}.deb";
ok(-f $deb, "named ${NAME}_${version}_${arch}.deb");

my @files = sort map { m{ \./(\S+)$} ? $1 : () }
                 grep { !/^d/ } split /\n/, `dpkg-deb -c $deb`;
my $doc = "usr/share/doc/$NAME";
ok((grep { $_ eq 'usr/lib/nginx/modules/ngx_http_ci_jobs_module.so' } @files),
   'the module under /usr/lib/nginx/modules/');
ok((grep { $_ eq 'usr/share/nginx/modules-available/mod-http-ci-jobs.conf' }
        @files),
   'the snippet under /usr/share/nginx/modules-available/');
ok((grep { $_ eq "$doc/copyright" } @files)
   && (grep { $_ eq "$doc/changelog.Debian.gz" } @files)
   && (grep { m{^$doc/README\.md(\.gz)?$} } @files)
   && (grep { m{^$doc/docs/metrics\.md(\.gz)?$} } @files),
   'copyright, changelog, README and docs under /usr/share/doc/');
my @stray = grep { !m{^(usr/lib/nginx/modules/|usr/share/nginx/modules-avail
                       able/|\Q$doc\E/)}x } @files;
ok(!@stray, 'nothing else') or diag(join "\n", @stray);

my $conf = './usr/share/nginx/modules-available/mod-http-ci-jobs.conf';
chomp(my $snippet = `dpkg-deb --fsys-tarfile $deb | tar -xOf - $conf`);
is($snippet, 'load_module modules/ngx_http_ci_jobs_module.so;',
   'the snippet loads the module, as Debian\'s do');

my ($abi) = (CiJobsTest::slurp(
                 '/usr/share/nginx/src/debian/libnginx-mod.abisubstvars')
             // '') =~ /^nginx:abi=(\S+)/m;
$abi //= (`dpkg-query -W -f '\${Provides}' nginx` =~ /(nginx-abi-[^\s,]+)/)[0];
chomp(my $depends = `dpkg-deb -f $deb Depends`);
like($depends, qr/(^|, )\Q$abi\E(,|$)/, "Depends: $abi");
like($depends, qr/(^|, )libssl3\b/, 'Depends: libssl3');
like($depends, qr/(^|, )libxml2\b/, 'Depends: libxml2');
like($depends, qr/(^|, )libjansson4\b/, 'Depends: libjansson4');
like($depends, qr/(^|, )libc6\b/, 'Depends: libc6');
chomp(my $pkgver = `dpkg-deb -f $deb Version`);
is($pkgver, $version, 'Version: NGX_HTTP_CI_JOBS_VERSION');

# --- a throwaway root -------------------------------------------------------------

# what nginx-common would have made, and a dpkg database holding the
# packages that satisfy the Depends, taken from this system's
sub new_root {
    my ($r, @packages) = @_;
    system('mkdir', '-p', map { "$r/$_" } qw(var/lib/dpkg/info
        var/lib/dpkg/updates var/lib/dpkg/triggers etc/nginx/modules-enabled
        usr/share/nginx)) == 0 or die;
    symlink '../../lib/nginx/modules', "$r/usr/share/nginx/modules" or die;
    open my $fh, '>', "$r/var/lib/dpkg/status" or die;
    for my $p (@packages) {
        print $fh `dpkg-query -s $p`, "\n";
        open my $l, '>', "$r/var/lib/dpkg/info/$p.list" or die;
    }
    close $fh;
}

sub tree {
    my ($r) = @_;
    my @all;
    find({ no_chdir => 1, wanted => sub {
        return if m{^\Q$r\E/var(/|$)};
        push @all, substr($File::Find::name, length $r) || '/';
    } }, $r);
    return join "\n", sort @all;
}

sub dpkg {
    my ($r, @args) = @_;
    return run('dpkg', "--root=$r", '--force-script-chrootless',
               "--log=$tmp/dpkg.log", @args);
}

my ($provider) = grep { `dpkg-query -W -f '\${Provides}' $_ 2>/dev/null`
                        =~ /\Q$abi\E/ } qw(nginx nginx-core nginx-light
                                           nginx-full nginx-extras);
ok($provider, "the installed $provider provides $abi");
my @deps = ($provider // 'nginx', qw(libc6 libssl3 libxml2 libjansson4));

my $bare = "$tmp/bare";
new_root($bare, grep { $_ ne ($provider // '') } @deps);
($rc, $out) = dpkg($bare, '-i', $deb);
isnt($rc, 0, "without $abi the package does not install");
like($out, qr/depends on \Q$abi\E/, 'for want of the nginx ABI');

my $r = "$tmp/root";
new_root($r, @deps);
my $before = tree($r);

($rc, $out) = dpkg($r, '-i', $deb);
is($rc, 0, 'dpkg --root installs it, its dependencies met') or diag($out);
ok(-f "$r/usr/lib/nginx/modules/ngx_http_ci_jobs_module.so", 'the module');
is(readlink("$r/$LINK"),
   '../../../usr/share/nginx/modules-available/mod-http-ci-jobs.conf',
   'postinst links the snippet into modules-enabled');
ok(-f "$r/$LINK", 'a link that resolves inside the root');

# --- nginx -t through the snippet ---------------------------------------------------

my $port = CiJobsTest::free_port();

sub nginx_t {
    my ($include) = @_;
    open my $fh, '>', "$tmp/nginx.conf" or die;
    print $fh <<"EOF";
$include
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:$port;
        location = /status { ci_jobs_status; }
    }
}
EOF
    close $fh;
    return run($NGINX, '-t', '-p', "$r/usr/share/nginx/", '-e',
               "$tmp/error.log", '-c', "$tmp/nginx.conf");
}

my $enabled = "include $r/etc/nginx/modules-enabled/*.conf;";

($rc, $out) = nginx_t('');
isnt($rc, 0, 'without the snippet, nginx -t knows no ci_jobs_status');
like($out, qr/unknown directive "ci_jobs_status"/, 'saying so');

($rc, $out) = nginx_t($enabled);
is($rc, 0, 'with modules-enabled/*.conf, nginx -t loads the module')
    or diag($out);
like($out, qr/test is successful/, 'the test is successful');

# --- removal, reinstall, purge ------------------------------------------------------

($rc, $out) = dpkg($r, '--remove', $NAME);
is($rc, 0, 'dpkg --remove') or diag($out);
ok(!-e "$r/usr/lib/nginx/modules/ngx_http_ci_jobs_module.so"
   && !-e "$r/usr/share/nginx/modules-available/mod-http-ci-jobs.conf",
   'the module and the snippet are gone');
ok(!-e "$r/$LINK" && !-l "$r/$LINK", 'modules-enabled no longer loads it');
ok(-l "$r/$LINK.removed", 'the link kept as .removed, as dh_nginx does');
($rc, $out) = nginx_t($enabled);
like($out, qr/unknown directive "ci_jobs_status"/,
     'nginx -t no longer loads the module');

($rc, $out) = dpkg($r, '-i', $deb);
is($rc, 0, 'installed again') or diag($out);
ok(-l "$r/$LINK" && !-l "$r/$LINK.removed", 'the link restored');
($rc, $out) = nginx_t($enabled);
is($rc, 0, 'and loaded again') or diag($out);

($rc, $out) = dpkg($r, '--purge', $NAME);
is($rc, 0, 'dpkg --purge') or diag($out);
is(tree($r), $before, 'nothing left behind');
($rc, $out) = run('dpkg-query', "--admindir=$r/var/lib/dpkg", '-W',
                  '-f', '${db:Status-Abbrev}', $NAME);
unlike($out, qr/^i/, 'and dpkg knows it no more');

done_testing;
